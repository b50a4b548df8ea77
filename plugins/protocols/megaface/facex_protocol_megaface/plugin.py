"""Registration of the MegaFace protocols: their configs and Component declarations.

Imported at plugin discovery, so it stays light: no numpy, no import of the protocol module (the
registry imports ``facex_protocol_megaface.protocol`` only when a protocol is built).
"""
from typing import Any

from facex_core import Component, config, hookimpl, option


def _extension(_instance: Any, attribute: Any, value: str) -> None:
    if value and (not value.startswith(".") or "/" in value):
        raise ValueError(f"{attribute.name} must be empty or an extension like '.jpg', got {value!r}")


@config
class MegaFaceConfig:
    """The devkit lists, the noise lists, where the crops are, and the search settings."""

    facescrub_list: str = option(doc="devkit facescrub_features_list.json (parallel 'path' and 'id' lists)")
    megaface_list: str = option(doc="devkit distractor list, e.g. megaface_features_list.json_1000000_1")
    image_root: str = option(doc="folder of aligned 112x112 crops (FaceX-Zoo's cropped_face_folder)")
    facescrub_dir: str = option("facescrub_crop", doc="FaceScrub crops: folder under image_root "
                                                      "mirroring the devkit paths")
    megaface_dir: str = option("megaface_crop", doc="MegaFace crops: folder under image_root "
                                                    "mirroring the devkit paths")
    image_ext: str = option("", validator=_extension,
                            doc="'' keeps the devkit paths' extensions; '.jpg' swaps them for crops "
                                "saved as JPEG")
    facescrub_noises: str = option("", doc="insightface facescrub_noises.txt ('' = no cleaning)")
    megaface_noises: str = option("", doc="insightface megaface_noises.txt ('' = no cleaning)")
    image_list_file: str = option("", doc="optional image list (paths relative to image_root); every "
                                          "image the protocol needs must be in it")
    max_rank: int = option(10, ge=1, doc="CMC ranks 1..max_rank")
    chunk_size: int = option(65536, ge=1,
                             doc="distractors scored per step (memory ~ 5 bytes x probes x chunk)")


@config
class MegaFaceMaskConfig(MegaFaceConfig):
    """MegaFace with masked probes: adds where the masked FaceScrub crops are."""

    masked_facescrub_dir: str = option("masked_facescrub_crop",
                                       doc="masked FaceScrub crops (same devkit paths) under image_root")
    masked_image_list_file: str = option("", doc="optional image list that must hold every masked crop")


_PAPER = ("Kemelmacher-Shlizerman et al. 2016, The MegaFace Benchmark: 1 Million Faces for "
          "Recognition at Scale (CVPR)")


@hookimpl
def facex_components():
    return [
        Component(kind="protocol", name="megaface",
                  summary="MegaFace challenge 1: FaceScrub probes vs 1M distractors (CMC, TAR@FAR)",
                  config=MegaFaceConfig,
                  factory="facex_protocol_megaface.protocol:MegaFaceProtocol", paper=_PAPER),
        Component(kind="protocol", name="megaface_mask",
                  summary="MegaFace with masked FaceScrub probes vs unmasked galleries (CMC, TAR@FAR)",
                  config=MegaFaceMaskConfig,
                  factory="facex_protocol_megaface.protocol:MaskedMegaFaceProtocol",
                  paper=_PAPER + "; masked probes as in FaceX-Zoo (Wang et al. 2021, ACM MM)"),
    ]
