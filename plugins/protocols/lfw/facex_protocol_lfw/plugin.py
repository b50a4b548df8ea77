"""Registration of the LFW-family protocols: one config class and one Component entry each.

Imported at plugin discovery, so it stays light: no numpy, no import of the parsers or the protocol
module (the registry imports ``facex_protocol_lfw.protocol`` only when a protocol is built).
"""
from typing import Any, ClassVar

from facex_core import Component, config, hookimpl, option, threshold_rule_option


def _rule_option() -> Any:
    return threshold_rule_option("exact")


def _folds_option() -> Any:
    return option(None, ge=2, doc="number of cross-validation folds of a file without a header (unset: 10); "
                                  "a header's count is used, and a value set here must equal it")


def _pairs_per_fold_option() -> Any:
    return option(0, ge=0, doc="pairs per fold of a file without a header; 0 = total/folds, as LFW's 10 "
                               "blocks of 600 (a header's count is used, and a value set here must equal it)")


@config
class LFWConfig:
    """Where the pairs file and aligned crops are, and how thresholds are chosen."""

    pairs_file: str = option(doc="LFW pairs.txt: a header line 'folds pairs_per_class', then 'name i j' "
                                 "(same) or 'name1 i name2 j' (different) per line")
    image_root: str = option(doc="folder of aligned crops laid out as NAME/NAME_0001.jpg")
    threshold_rule: str = _rule_option()
    folds: int | None = _folds_option()
    pairs_per_fold: int = _pairs_per_fold_option()


@config
class RFWConfig:
    """An RFW race: LFW's line format without the header, folds of consecutive pairs."""

    race: ClassVar[str] = ""
    pairs_file: str = option(doc="RFW txts/<Race>/<Race>_pairs.txt: 'id i j' (same) or "
                                 "'id1 i id2 j' (different) per line, no header")
    image_root: str = option(doc="folder of aligned crops of the race laid out as ID/ID_0001.jpg")
    threshold_rule: str = _rule_option()
    folds: int | None = _folds_option()
    pairs_per_fold: int = _pairs_per_fold_option()


@config
class RFWAfricanConfig(RFWConfig):
    """RFW African: txts/African/African_pairs.txt."""

    race: ClassVar[str] = "African"


@config
class RFWAsianConfig(RFWConfig):
    """RFW Asian: txts/Asian/Asian_pairs.txt."""

    race: ClassVar[str] = "Asian"


@config
class RFWCaucasianConfig(RFWConfig):
    """RFW Caucasian: txts/Caucasian/Caucasian_pairs.txt."""

    race: ClassVar[str] = "Caucasian"


@config
class RFWIndianConfig(RFWConfig):
    """RFW Indian: txts/Indian/Indian_pairs.txt."""

    race: ClassVar[str] = "Indian"


@config
class CPLFWConfig:
    """CPLFW: pairs_CPLFW.txt (6,000 pairs of 'image label' lines) and its aligned crops."""

    pairs_file: str = option(doc="pairs_CPLFW.txt: two consecutive 'image label' lines per pair "
                                 "(label 1 same, 0 different); exactly 6,000 pairs")
    image_root: str = option(doc="folder of aligned crops named as in the pairs file")
    threshold_rule: str = _rule_option()


@config
class CALFWConfig:
    """CALFW: pairs_CALFW.txt (6,000 pairs of 'image label' lines) and its aligned crops."""

    pairs_file: str = option(doc="pairs_CALFW.txt: two consecutive 'image label' lines per pair "
                                 "(label non-zero same, 0 different); exactly 6,000 pairs")
    image_root: str = option(doc="folder of aligned crops named as in the pairs file")
    threshold_rule: str = _rule_option()


@config
class AgeDB30Config:
    """AgeDB-30: the official protocol .mat (or a text export) and the aligned crops."""

    pairs_file: str = option(doc="04_FINAL_protocol_30_years.mat, or a text export with one "
                                 "'name1 name2 label' line per pair in split order")
    image_root: str = option(doc="folder of aligned crops named <image name>.jpg")
    threshold_rule: str = _rule_option()


@config
class CFPConfig:
    """A CFP protocol: the official Protocol folder and the images it lists."""

    split: ClassVar[str] = ""
    protocol_dir: str = option(doc="CFP's Protocol folder (Pair_list_F.txt, Pair_list_P.txt, "
                                   "Split/FP|FF/01..10/same.txt|diff.txt)")
    image_root: str = option(doc="folder laid out like the dataset root: the images the lists "
                                 "name, e.g. Data/Images/001/frontal/01.jpg (aligned crops)")
    threshold_rule: str = _rule_option()


@config
class CFPFPConfig(CFPConfig):
    """CFP frontal-profile: Split/FP, first image frontal, second profile."""

    split: ClassVar[str] = "FP"


@config
class CFPFFConfig(CFPConfig):
    """CFP frontal-frontal: Split/FF, both images frontal."""

    split: ClassVar[str] = "FF"


_RFW_PAPER = ("Wang et al. 2019, Racial Faces in-the-Wild: Reducing Racial Bias by Information "
              "Maximization Adaptation Network (ICCV)")
_CFP_PAPER = "Sengupta et al. 2016, Frontal to Profile Face Verification in the Wild (WACV)"
_METRICS = "10-fold verification accuracy (plus AUC, EER, TAR@FAR, ROC)"


def _protocol(name: str, what: str, config_class: type, factory: str, paper: str) -> Component:
    return Component(kind="protocol", name=name, summary=f"{what} {_METRICS}", config=config_class,
                     factory=f"facex_protocol_lfw.protocol:{factory}", paper=paper)


@hookimpl
def facex_components():
    return [
        _protocol("lfw", "LFW", LFWConfig, "LFWProtocol",
                  "Huang et al. 2007, Labeled Faces in the Wild: A Database for Studying Face "
                  "Recognition in Unconstrained Environments (UMass TR 07-49)"),
        _protocol("cplfw", "CPLFW (cross-pose)", CPLFWConfig, "CPLFWProtocol",
                  "Zheng & Deng 2018, Cross-Pose LFW: A Database for Studying Cross-Pose Face "
                  "Recognition in Unconstrained Environments (BUPT TR 18-01)"),
        _protocol("calfw", "CALFW (cross-age)", CALFWConfig, "CALFWProtocol",
                  "Zheng, Deng & Hu 2017, Cross-Age LFW: A Database for Studying Cross-Age Face "
                  "Recognition in Unconstrained Environments (arXiv:1708.08197)"),
        _protocol("agedb30", "AgeDB-30 (30-year gap)", AgeDB30Config, "AgeDB30Protocol",
                  "Moschoglou et al. 2017, AgeDB: the first manually collected, in-the-wild age "
                  "database (CVPR Workshops)"),
        _protocol("rfw_african", "RFW African", RFWAfricanConfig, "RFWProtocol", _RFW_PAPER),
        _protocol("rfw_asian", "RFW Asian", RFWAsianConfig, "RFWProtocol", _RFW_PAPER),
        _protocol("rfw_caucasian", "RFW Caucasian", RFWCaucasianConfig, "RFWProtocol", _RFW_PAPER),
        _protocol("rfw_indian", "RFW Indian", RFWIndianConfig, "RFWProtocol", _RFW_PAPER),
        _protocol("cfp_fp", "CFP frontal-profile", CFPFPConfig, "CFPProtocol", _CFP_PAPER),
        _protocol("cfp_ff", "CFP frontal-frontal", CFPFFConfig, "CFPProtocol", _CFP_PAPER),
    ]
