"""Registration of the FaceX and ONNX recognizers (light: no torch, numpy, cv2 or onnxruntime import)."""
from facex_core import Component, config, hookimpl, option

_FLIP = ("sum", "none")


@config
class FaceXRecognizerConfig:
    """A FaceX training checkpoint; the backbone and its input size come from the checkpoint's embedded config."""

    checkpoint: str = option("", doc="FaceX checkpoint (e.g. runs/<name>/checkpoints/last.pt); required")
    flip: str = option("sum", choices=_FLIP,
                       doc="'sum' adds the mirrored crop's embedding before normalising "
                           "(FaceX evaluation default); 'none'")
    batch_size: int = option(64, ge=1, doc="crops per forward pass")
    device: str = option("auto", doc="'auto' (CUDA when available), 'cpu' or 'cuda[:N]'")


@config
class OnnxRecognizerConfig:
    """An ONNX face model (N×3×H×W → N×D): a `facex-core export onnx` file or another framework's (InsightFace's
    packs), fed the input convention it was trained with (unset fields: recognised, see the README)."""

    model: str = option("", doc="the .onnx file; required")
    flip: str = option("sum", choices=_FLIP,
                       doc="'sum' adds the mirrored crop's embedding before normalising; 'none'")
    batch_size: int = option(64, ge=1, doc="crops per run (flip doubles it)")
    input_size: tuple[int, int] = option((112, 112), ge=1, doc="(H, W) used only when the model's H and W are symbolic")
    channels: str = option("auto", choices=("auto", "BGR", "RGB"),
                           doc="channel order the model takes; 'auto': recognised (facex_core.onnx_convention)")
    mean: float | None = option(None, ge=0, le=255, doc="subtracted from every pixel value; unset: recognised")
    std: float | None = option(None, gt=0, doc="divides every pixel value after the mean; unset: recognised")
    crop_eye: bool | None = option(None, doc="feed the top 60 rows of the 112×112 crop (models trained with "
                                              "data.crop_eye); unset: as a FaceX export's metadata says, else off")
    providers: tuple[str, ...] = option((), doc="onnxruntime execution providers in order; empty = all available")
    threads: int = option(0, ge=0, doc="onnxruntime intra-op threads; 0 = its default")


@hookimpl
def facex_components():
    return [Component(kind="recognizer", name="facex",
                      summary="FaceX checkpoint → L2-normalised embeddings (backbone from its embedded config)",
                      config=FaceXRecognizerConfig, factory="facex_sdk_recognizer.recognizer:FaceXRecognizer"),
            Component(kind="recognizer", name="onnx",
                      summary="ONNX face model (FaceX export, InsightFace pack, ...) run with onnxruntime in its "
                              "input convention → L2-normalised embeddings",
                      config=OnnxRecognizerConfig, factory="facex_sdk_recognizer.recognizer:OnnxRecognizer")]
