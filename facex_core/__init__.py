"""FaceX core: the public API that plugins and users import.

Everything here is importable from the package top level; modules whose names start with an
underscore are private and may change without notice. Names that need torch are loaded lazily, so
``import facex_core`` (and plugin discovery) stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

from .plugin_api.components import KINDS, Component
from .plugin_api.hookspecs import hookimpl, hookspec
from .configs.options import config, describe_fields, option
from .version import PLUGIN_API, __version__

# public name -> private module that defines it (imported on first access)
_LAZY = {
    # registry and building
    "Registry": "plugin_api.registry", "RegistryError": "errors", "registry": "plugin_api.registry",
    "build": "plugin_api.build", "build_from_table": "plugin_api.build", "component_config": "plugin_api.build",
    # configs
    "ConfigError": "errors", "load_toml": "configs.toml", "apply_overrides": "configs.toml",
    "structure_config": "configs.toml",
    # interfaces
    "Backbone": "interfaces.backbone",
    "Head": "interfaces.head", "HeadConfig": "interfaces.head_config", "HeadOutput": "interfaces.head", "MarginSoftmaxHead": "interfaces.head",
    "check_labels": "interfaces.head", "replace_target": "interfaces.head", "safe_sin": "interfaces.head", "target_mask": "interfaces.head",
    "default_adacos_scale": "interfaces.head", "Classifier": "nn.classifier", "CosineBatch": "nn.classifier",
    "ClassifierConfig": "interfaces.classifier_config",
    "TrainingMode": "interfaces.training_mode", "TrainResult": "interfaces.training_mode",
    "Protocol": "interfaces.protocol", "ProtocolResult": "interfaces.protocol", "Curve": "interfaces.protocol",
    "Detector": "interfaces.sdk", "Landmarker": "interfaces.sdk", "Aligner": "interfaces.sdk", "Recognizer": "interfaces.sdk",
    "Pipeline": "interfaces.sdk", "Face": "interfaces.sdk", "MaskAdder": "interfaces.mask", "MaskedImage": "interfaces.mask",
    "mask_dataset": "apps.mask_data", "one_side_masked_pairs": "apps.mask_data",
    "ARCFACE_TEMPLATE_112": "data.alignment", "arcface_template": "data.alignment", "umeyama": "data.alignment",
    # engines
    "Experiment": "engine.experiment", "Trainer": "engine.trainer", "OptimizerConfig": "engine.train_config",
    "ScheduleConfig": "engine.train_config", "LoopConfig": "engine.train_config",
    "extract_features": "engine.extract", "FaceModel": "engine.trainer",
    "save_checkpoint": "engine.trainer", "save_backbone_checkpoint": "engine.trainer", "load_checkpoint": "engine.trainer",
    "build_optimizer": "engine.trainer",
    "CHECKPOINT_FORMAT": "engine.trainer", "CHECKPOINT_VERSION": "engine.trainer", "validate_online": "engine.evaluate",
    "evaluate_experiment": "engine.evaluate", "load_backbone_weights": "engine.evaluate",
    "EpochSampler": "data.datasets", "to_tensor": "data.datasets", "FaceImageDataset": "data.datasets", "DataConfig": "data.datasets",
    "RecordDataset": "data.datasets", "augment": "data.augment", "AugmentConfig": "data.augment",
    "init_distributed": "runtime.distributed", "world_rank": "runtime.distributed",
    # data
    "load_image": "data.image", "as_bgr": "data.image", "as_rgb": "data.image", "ImageLoadError": "data.image",
    "encode_image": "data.image", "write_image": "data.image", "TrainListDataset": "data.datasets",
    "ImageFolderDataset": "data.datasets", "read_train_list": "data.datasets",
    # metrics
    "kfold_verification": "metrics.verification", "threshold_rule_option": "interfaces.protocol_config",
    "THRESHOLD_RULES": "interfaces.protocol_config", "KFoldResult": "metrics.verification",
    "roc_curve": "metrics.verification", "tar_at_far": "metrics.verification", "eer": "metrics.verification",
    "roc_auc": "metrics.verification", "pair_scores": "metrics.verification", "verification_result": "metrics.verification",
    # shared layers and geometry
    "feature_map_size": "nn.geometry", "FlattenBackboneConfig": "interfaces.backbone_config", "resolve_map_size": "nn.geometry", "ConvBNAct": "nn.layers", "rename_output_layer": "nn.layers",
    "FlattenEmbedding": "nn.layers", "SqueezeExcite": "nn.layers", "DropPath": "nn.layers",
    "make_divisible": "nn.layers", "conv_out_size": "nn.layers",
    # synthetic demo data
    "SyntheticConfig": "apps.synthetic", "generate_synthetic": "apps.synthetic",
    # misc
    "Progress": "runtime.progress", "count_params_and_macs": "nn.complexity", "export_onnx": "nn.export",
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
