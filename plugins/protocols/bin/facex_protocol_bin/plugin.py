"""Registration of the InsightFace ``.bin`` verification protocols: ``bin`` (any file) and one named
convenience per standard set (``bin_lfw``, ``bin_cfp_fp``, ...), each a config class + entry.

Imported at plugin discovery, so it stays light: no numpy, no import of the reader or protocol.
"""
from typing import Any, ClassVar

from facex_core import Component, config, hookimpl, option, threshold_rule_option


def _cache_option() -> Any:
    return option("", doc="folder for the unpacked images: '' = <bin folder>/<bin name>_images, "
                          "otherwise <cache_dir>/<bin name>")


def _rule_option() -> Any:
    return threshold_rule_option("insightface")


def _folds_option() -> Any:
    return option(10, ge=2,
                  doc="number of folds of consecutive pairs (InsightFace's unshuffled KFold)")


@config
class BinConfig:
    """Any InsightFace verification .bin: where it is and where its images are unpacked."""

    path: str = option(doc="the .bin file: a pickle of (2N encoded images, N issame booleans)")
    cache_dir: str = _cache_option()
    threshold_rule: str = _rule_option()
    folds: int = _folds_option()


@config
class StandardBinConfig:
    """One of InsightFace's standard .bin sets, found by its file name in ``data_dir``."""

    file_name: ClassVar[str] = ""
    data_dir: str = option(doc="folder holding InsightFace's .bin sets (e.g. faces_emore/)")
    cache_dir: str = _cache_option()
    threshold_rule: str = _rule_option()
    folds: int = _folds_option()


@config
class LFWBinConfig(StandardBinConfig):
    """LFW: lfw.bin in data_dir (6,000 pairs)."""

    file_name: ClassVar[str] = "lfw.bin"


@config
class CFPFPBinConfig(StandardBinConfig):
    """CFP frontal-profile: cfp_fp.bin in data_dir (7,000 pairs)."""

    file_name: ClassVar[str] = "cfp_fp.bin"


@config
class CFPFFBinConfig(StandardBinConfig):
    """CFP frontal-frontal: cfp_ff.bin in data_dir (7,000 pairs)."""

    file_name: ClassVar[str] = "cfp_ff.bin"


@config
class AgeDB30BinConfig(StandardBinConfig):
    """AgeDB-30: agedb_30.bin in data_dir (6,000 pairs)."""

    file_name: ClassVar[str] = "agedb_30.bin"


@config
class CALFWBinConfig(StandardBinConfig):
    """CALFW: calfw.bin in data_dir (6,000 pairs)."""

    file_name: ClassVar[str] = "calfw.bin"


@config
class CPLFWBinConfig(StandardBinConfig):
    """CPLFW: cplfw.bin in data_dir (6,000 pairs)."""

    file_name: ClassVar[str] = "cplfw.bin"


#: Convenience name -> (config class, what the set is).
STANDARD_SETS = {
    "bin_lfw": (LFWBinConfig, "LFW"),
    "bin_cfp_fp": (CFPFPBinConfig, "CFP frontal-profile"),
    "bin_cfp_ff": (CFPFFBinConfig, "CFP frontal-frontal"),
    "bin_agedb_30": (AgeDB30BinConfig, "AgeDB-30"),
    "bin_calfw": (CALFWBinConfig, "CALFW"),
    "bin_cplfw": (CPLFWBinConfig, "CPLFW"),
}
_PAPER = ("Deng et al. 2019, ArcFace: Additive Angular Margin Loss for Deep Face Recognition "
          "(CVPR); verification sets as packed by insightface")
_FACTORY = "facex_protocol_bin.protocol:BinProtocol"


@hookimpl
def facex_components():
    components = [Component(kind="protocol", name="bin", config=BinConfig, factory=_FACTORY,
                            paper=_PAPER, summary="InsightFace .bin verification set, 10-fold "
                                                  "accuracy (InsightFace's rule by default)")]
    for name, (config_class, what) in STANDARD_SETS.items():
        components.append(Component(kind="protocol", name=name, config=config_class,
                                    factory=_FACTORY, paper=_PAPER,
                                    summary=f"{what} from InsightFace's {config_class.file_name}, "
                                            "10-fold accuracy"))
    return components
