"""Registration of the IJB-B / IJB-C protocols: their configs and Component declarations.

Imported at plugin discovery, so it stays light: no numpy, no import of the protocol module (the
registry imports ``facex_protocol_ijb.protocol`` only when a protocol is built).
"""
from facex_core import Component, config, hookimpl, option

TAR_RULES = ("exact", "insightface")


@config
class IJBConfig:
    """Where the insightface meta files and the aligned crops are, and how templates are scored."""

    meta_dir: str = option(doc="folder of the insightface meta files (<t>_face_tid_mid.txt, "
                               "<t>_template_pair_label.txt, <t>_name_5pts_score.txt)")
    image_root: str = option(doc="folder of aligned 112x112 crops named as in the meta files (1.jpg, ...)")
    use_detector_score: bool = option(True, doc="weight each image feature by its detector face score "
                                                "(the last field of <t>_name_5pts_score.txt)")
    tar_rule: str = option("exact", choices=TAR_RULES,
                           doc="'exact' (most permissive point with FAR <= target) or 'insightface' "
                               "(nearest ROC point, reproduces published numbers)")
    image_list_file: str = option("", doc="optional image list; every image the protocol needs must be in it")


@config
class IJB1NConfig:
    """The meta files (including NIST's 1:N gallery and probe lists), the crops, the ranks."""

    meta_dir: str = option(doc="folder of the insightface meta files plus the NIST 1:N lists "
                               "(<t>_1N_gallery_G1.csv / _G2, IJB-B: _S1 / _S2, <t>_1N_probe_mixed.csv)")
    image_root: str = option(doc="folder of aligned 112x112 crops named as in the meta files (1.jpg, ...)")
    use_detector_score: bool = option(True, doc="weight each image feature by its detector face score")
    max_rank: int = option(10, ge=1, doc="CMC ranks 1..max_rank")
    image_list_file: str = option("", doc="optional image list; every image the protocol needs must be in it")


_PAPERS = {
    "ijbb": "Whitelam et al. 2017, IARPA Janus Benchmark-B Face Dataset (CVPR workshops)",
    "ijbc": "Maze et al. 2018, IARPA Janus Benchmark - C: Face Dataset and Protocol (ICB)",
}


@hookimpl
def facex_components():
    components = []
    for target, title in (("ijbb", "IJB-B"), ("ijbc", "IJB-C")):
        cls = target.upper()  # IJBB / IJBC
        components.append(Component(
            kind="protocol", name=target,
            summary=f"{title} 1:1 template verification: TAR at FAR 1e-6..1e-1, ROC",
            config=IJBConfig, factory=f"facex_protocol_ijb.protocol:{cls}Protocol",
            paper=_PAPERS[target]))
        components.append(Component(
            kind="protocol", name=f"{target}_1n",
            summary=f"{title} 1:N mixed-media identification: CMC, TPIR at FPIR (two galleries)",
            config=IJB1NConfig, factory=f"facex_protocol_ijb.protocol:{cls}1NProtocol",
            paper=_PAPERS[target]))
    return components
