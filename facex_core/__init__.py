"""FaceX core: the public API that plugins and users import.

Everything here is importable from the package top level; modules whose names start with an
underscore are private and may change without notice. Names that need torch are loaded lazily, so
``import facex_core`` (and plugin discovery) stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

from ._components import KINDS, Component
from ._hookspecs import hookimpl, hookspec
from ._options import config, describe_fields, option
from ._version import PLUGIN_API, __version__

# public name -> private module that defines it (imported on first access)
_LAZY = {
    # registry and building
    "Registry": "_registry", "RegistryError": "_errors", "registry": "_registry",
    "build": "_build", "build_from_table": "_build", "component_config": "_build",
    # configs
    "ConfigError": "_errors", "load_toml": "_config", "apply_overrides": "_config",
    "structure_config": "_config",
    # interfaces
    "Backbone": "_backbone",
    "Head": "_head", "HeadConfig": "_head_config", "HeadOutput": "_head", "MarginSoftmaxHead": "_head",
    "check_labels": "_head", "replace_target": "_head", "safe_sin": "_head", "target_mask": "_head",
    "default_adacos_scale": "_head", "Classifier": "_classifier", "CosineBatch": "_classifier",
    "ClassifierConfig": "_classifier_config",
    "TrainingMode": "_training_mode", "TrainResult": "_training_mode",
    "Protocol": "_protocol", "ProtocolResult": "_protocol", "Curve": "_protocol",
    "Detector": "_sdk", "Landmarker": "_sdk", "Aligner": "_sdk", "Recognizer": "_sdk",
    "Pipeline": "_sdk", "Face": "_sdk", "MaskAdder": "_mask", "MaskedImage": "_mask",
    "mask_dataset": "_mask_data", "one_side_masked_pairs": "_mask_data",
    "ARCFACE_TEMPLATE_112": "_alignment", "arcface_template": "_alignment", "umeyama": "_alignment",
    # engines
    "Experiment": "_experiment", "Trainer": "_trainer", "OptimizerConfig": "_train_config",
    "ScheduleConfig": "_train_config", "LoopConfig": "_train_config",
    "extract_features": "_extract", "FaceModel": "_trainer",
    "save_checkpoint": "_trainer", "save_backbone_checkpoint": "_trainer", "load_checkpoint": "_trainer",
    "build_optimizer": "_trainer",
    "CHECKPOINT_FORMAT": "_trainer", "CHECKPOINT_VERSION": "_trainer", "validate_online": "_evaluate",
    "evaluate_experiment": "_evaluate", "load_backbone_weights": "_evaluate",
    "EpochSampler": "_data", "to_tensor": "_data", "FaceImageDataset": "_data", "DataConfig": "_data",
    "RecordDataset": "_data", "augment": "_augment", "AugmentConfig": "_augment",
    "init_distributed": "_distributed", "world_rank": "_distributed",
    # data
    "load_image": "_image", "as_bgr": "_image", "as_rgb": "_image", "ImageLoadError": "_image",
    "encode_image": "_image", "write_image": "_image", "TrainListDataset": "_data",
    "ImageFolderDataset": "_data", "read_train_list": "_data",
    # metrics
    "kfold_verification": "_verification", "threshold_rule_option": "_protocol_config",
    "THRESHOLD_RULES": "_protocol_config", "KFoldResult": "_verification",
    "roc_curve": "_verification", "tar_at_far": "_verification", "eer": "_verification",
    "roc_auc": "_verification", "pair_scores": "_verification", "verification_result": "_verification",
    # shared layers and geometry
    "feature_map_size": "_geometry", "FlattenBackboneConfig": "_backbone_config", "resolve_map_size": "_geometry", "ConvBNAct": "_layers", "rename_output_layer": "_layers",
    "FlattenEmbedding": "_layers", "SqueezeExcite": "_layers", "DropPath": "_layers",
    "make_divisible": "_layers", "conv_out_size": "_layers",
    # synthetic demo data
    "SyntheticConfig": "_synthetic", "generate_synthetic": "_synthetic",
    # misc
    "Progress": "_progress", "count_params_and_macs": "_complexity", "export_onnx": "_export",
}

__all__ = ["KINDS", "Component", "hookimpl", "hookspec", "config", "option", "describe_fields",
           "PLUGIN_API", "__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'facex_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"facex_core.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
