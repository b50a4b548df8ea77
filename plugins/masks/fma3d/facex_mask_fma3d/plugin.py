"""Registration of the FMA-3D mask adder (light: no numpy, cv2, mediapipe or torch import)."""
import attrs

from facex_core import Component, config, hookimpl, option


def _probability(_inst, attribute, value):
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be in [0, 1], got {value}")


def _contrast_range(_inst, attribute, value):
    low, high = value
    if not 0.0 < low <= high <= 1.0:
        raise ValueError(f"{attribute.name} must be (low, high) with 0 < low <= high <= 1, got {value}")


@config
class Fma3dConfig:
    """FMA-3D mask adding; augmentation defaults are FaceX-Zoo's (face_masker.py, is_aug=True)."""

    detector: str = option("mediapipe", doc="detector component used to find faces in photos")
    landmarker: str = option("mediapipe_mesh", doc="landmarker component giving the 468-point face mesh "
                                                   "with depth (MediaPipe FaceMesh layout)")
    template_pool: tuple[str, ...] = option((), doc="templates drawn from when none is forced; empty = all "
                                                    "built-in and extra ones")
    extra_templates: tuple[str, ...] = option((), doc="paths of BGRA PNG templates in the UV layout "
                                                      "(as lift_template writes); named by file stem")
    augment: bool = option(True, doc="apply FMA-3D's random template augmentations (drawn from the seed)")
    flip_p: float = option(0.5, validator=_probability, doc="probability of flipping the template left-right")
    shrink_p: float = option(0.5, validator=_probability,
                             doc="probability of shrinking the template by random x/y offsets")
    shrink_max: int = option(5, validator=attrs.validators.ge(1),
                             doc="shrink offsets are drawn from 0..shrink_max-1 texels per side (256 UV)")
    erode_p: float = option(0.2, validator=_probability, doc="probability of eroding the template alpha (5x5)")
    erode_max: int = option(4, validator=attrs.validators.ge(0),
                            doc="erosion iterations are drawn from 0..erode_max")
    contrast_p: float = option(0.5, validator=_probability,
                               doc="probability of darkening the template colour by a factor alpha")
    contrast_range: tuple[float, float] = option((0.5, 0.8), validator=_contrast_range,
                                                 doc="range of that factor (colour = alpha * colour)")
    shading: float = option(1.0, validator=attrs.validators.ge(0.0),
                            doc="strength of the face's own low-frequency lighting applied to the mask; 0 = "
                                "flat colour")
    close_mouth: bool = option(True, doc="draw the mask as if the mouth were closed (lip vertices follow a smooth "
                                         "fit of the face around them): masks do not open with the mouth")
    aligned_facemesh: bool = option(True, doc="aligned crops: try FaceMesh on the padded crop before "
                                              "falling back to the canonical mesh fitted to the ArcFace template")
    aligned_tolerance: float = option(0.08, validator=attrs.validators.gt(0.0),
                                      doc="aligned crops: reject a FaceMesh fit whose 5 points are further than "
                                          "this × crop side from the ArcFace template (mean)")
    lift_mirror_fill: bool = option(True, doc="lift_template: fill texels hidden by the head's turn from "
                                              "their mirror image (UV is left-right symmetric)")


@hookimpl
def facex_components():
    return [Component(kind="mask_adder", name="fma3d",
                      summary="FMA-3D virtual masks: UV templates rendered on a MediaPipe face mesh with "
                              "z-buffer, face shading and FaceX-Zoo's augmentations; 11 built-in templates",
                      config=Fma3dConfig, factory="facex_mask_fma3d.adder:Fma3dMaskAdder",
                      paper="Wang et al., FaceX-Zoo: A PyTorch Toolbox for Face Recognition, ACM MM 2021 "
                            "(FMA-3D); Kartynnik et al., Real-time Facial Surface Geometry from Monocular "
                            "Video on Mobile GPUs, CVPR Workshops 2019 (face mesh)")]
