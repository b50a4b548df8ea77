"""Registration of the dlib components (light: no dlib, numpy or cv2 import)."""
from facex_core import Component, config, hookimpl, option

_MODELS_DIR_DOC = ("folder holding dlib's .dat model files; '' = the face-recognition-models package")

#: Cosine-similarity threshold documented for ``dlib_resnet`` (README: "Threshold").
DLIB_RESNET_THRESHOLD = 0.91


@config
class DlibHogConfig:
    """dlib's HOG + linear SVM frontal face detector (``dlib.get_frontal_face_detector``)."""

    upsample: int = option(1, ge=0, le=8,
                           doc="times the image is upsampled 2x before detecting (finds smaller faces, slower)")
    min_score: float = option(0.0, doc="SVM score threshold (dlib's adjust_threshold; 0 = dlib's default, "
                                       "negative finds more faces)", ge=-10, le=10)


@config
class DlibCnnConfig:
    """dlib's CNN (MMOD) face detector, ``mmod_human_face_detector.dat``."""

    models_dir: str = option("", doc=_MODELS_DIR_DOC)
    upsample: int = option(0, ge=0, le=8,
                           doc="times the image is upsampled 2x first (dlib's example: 1; each one ~4x slower)")
    min_score: float = option(0.0, doc="drop detections whose MMOD confidence is below this", ge=-10, le=10)


@config
class DlibShapeConfig:
    """A dlib shape predictor run inside each face box."""

    models_dir: str = option("", doc=_MODELS_DIR_DOC)


@config
class DlibChipConfig:
    """dlib's own face chips (``dlib.get_face_chip``), as in dlib's face recognition example."""

    size: int = option(150, ge=16,
                       doc="chip side in pixels (dlib_resnet needs 150)")
    padding: float = option(0.25, ge=0, le=2,
                            doc="border around the face as a fraction of the face size (dlib: 0.25)")


@config
class DlibResnetConfig:
    """dlib's ResNet-29 face recognition model, ``dlib_face_recognition_resnet_model_v1.dat``."""

    models_dir: str = option("", doc=_MODELS_DIR_DOC)
    num_jitters: int = option(0, ge=0,
                              doc="average over this many random jitters of each chip (0 or 1 = none; "
                                  "random, ~N times slower)")
    batch_size: int = option(32, ge=1, doc="chips per dlib call")


_PAPER_RESNET = ("He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (architecture); "
                 "dlib model notes: github.com/davisking/dlib-models")


@hookimpl
def facex_components():
    return [
        Component(kind="detector", name="dlib_hog",
                  summary="dlib's HOG + linear SVM frontal face detector (boxes and SVM scores, CPU)",
                  config=DlibHogConfig, factory="facex_sdk_dlib.detector:DlibHogDetector",
                  paper="Dalal & Triggs, Histograms of Oriented Gradients for Human Detection, CVPR 2005"),
        Component(kind="detector", name="dlib_cnn",
                  summary="dlib's CNN face detector (MMOD, mmod_human_face_detector.dat); slow on CPU",
                  config=DlibCnnConfig, factory="facex_sdk_dlib.detector:DlibCnnDetector",
                  paper="King, Max-Margin Object Detection, arXiv:1502.00046, 2015"),
        Component(kind="landmarker", name="dlib_5pt",
                  summary="dlib 5-point shape predictor: eye corners and nose base (layout 'dlib5'; CC0)",
                  config=DlibShapeConfig, factory="facex_sdk_dlib.landmarker:Dlib5ptLandmarker",
                  paper="Kazemi & Sullivan, One Millisecond Face Alignment with an Ensemble of "
                        "Regression Trees, CVPR 2014"),
        Component(kind="landmarker", name="dlib_68pt",
                  summary="dlib 68-point shape predictor (iBUG 300-W layout); NOT for commercial use",
                  config=DlibShapeConfig, factory="facex_sdk_dlib.landmarker:Dlib68ptLandmarker",
                  paper="Kazemi & Sullivan, CVPR 2014; Sagonas et al., 300 Faces In-the-Wild "
                        "Challenge, IMAVIS 2016 (training data)"),
        Component(kind="aligner", name="dlib_chip",
                  summary="dlib.get_face_chip 150x150 crops from dlib5, 68 (iBUG) or MediaPipe 468/478 landmarks",
                  config=DlibChipConfig, factory="facex_sdk_dlib.chip:DlibChipAligner"),
        Component(kind="recognizer", name="dlib_resnet",
                  summary=f"dlib ResNet-29 face descriptor (128-D, L2-normalised; threshold "
                          f"{DLIB_RESNET_THRESHOLD} cosine ~ dlib's 0.6 Euclidean)",
                  config=DlibResnetConfig, factory="facex_sdk_dlib.recognizer:DlibResnetRecognizer",
                  paper=_PAPER_RESNET),
    ]
