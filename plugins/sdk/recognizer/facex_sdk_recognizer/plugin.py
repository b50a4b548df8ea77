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
    """An ONNX backbone written by `facex-core export onnx` (BGR, (x-127.5)/128, N×3×H×W → N×D)."""

    model: str = option("", doc="the .onnx file; required")
    flip: str = option("sum", choices=_FLIP,
                       doc="'sum' adds the mirrored crop's embedding before normalising; 'none'")
    batch_size: int = option(64, ge=1, doc="crops per run (flip doubles it)")
    input_size: tuple[int, int] = option((112, 112), ge=1, doc="(H, W) used only when the model's H and W are symbolic")
    crop_eye: bool = option(False, doc="feed the top 60 rows of the 112×112 crop "
                                       "(models trained with data.crop_eye)")
    providers: tuple[str, ...] = option((), doc="onnxruntime execution providers in order; empty = all available")
    threads: int = option(0, ge=0, doc="onnxruntime intra-op threads; 0 = its default")


@hookimpl
def facex_components():
    return [Component(kind="recognizer", name="facex",
                      summary="FaceX checkpoint → L2-normalised embeddings (backbone from its embedded config)",
                      config=FaceXRecognizerConfig, factory="facex_sdk_recognizer.recognizer:FaceXRecognizer"),
            Component(kind="recognizer", name="onnx",
                      summary="ONNX export of a FaceX backbone run with onnxruntime → L2-normalised embeddings",
                      config=OnnxRecognizerConfig, factory="facex_sdk_recognizer.recognizer:OnnxRecognizer")]
