"""FaceX core's public API (docs/api.md): the first block is torch-free and imported at once; each name
in the ``TYPE_CHECKING`` block is imported from the module named there on first access."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

# -- for plugin authors: declaring components and commands (torch-free) -------------------------
from .configs.options import config, describe_fields, option
from .errors import ConfigError, DataError, NonFiniteError, RegistryError, UserError
from .interfaces.configs import THRESHOLD_RULES, ClassifierConfig, FlattenBackboneConfig, HeadConfig
from .interfaces.configs import threshold_rule_option
from .engine.train_config import LoopConfig, OptimizerConfig, ScheduleConfig
from .plugin_api.components import KINDS, Command, Component
from .plugin_api.hookspecs import hookimpl, hookspec
from .version import PLUGIN_API, __version__

if TYPE_CHECKING:
    # -- for plugin authors: the interfaces a component implements ---------------------------------
    from .interfaces.backbone import Backbone
    from .interfaces.data_format import DataFormat
    from .interfaces.dataset import DatasetMaker
    from .interfaces.distill import DistillLoss
    from .interfaces.head import Head, HeadOutput, MarginSoftmaxHead
    from .interfaces.protocol import Curve, Protocol, ProtocolResult
    from .interfaces.sdk import Aligner, Detector, Face, Landmarker, MaskAdder, MaskedImage, Pipeline, Recognizer
    from .interfaces.sdk import pick_face
    from .interfaces.training_mode import TrainerView, TrainingMode, TrainResult
    # -- for plugin authors: building blocks ------------------------------------------------------
    from .interfaces.head import FaceModel, check_labels, default_adacos_scale, replace_target, safe_sin, target_mask
    from .nn.classifier import Classifier, CosineBatch
    from .interfaces.configs import feature_map_size, resolve_map_size
    from .nn.layers import ConvBNAct, DropPath, FlattenEmbedding, SqueezeExcite, make_divisible, rename_output_layer
    from .interfaces.sdk import ARCFACE_TEMPLATE_112, arcface_template, umeyama
    from .metrics.verification import KFoldResult, eer, kfold_verification, pair_scores, roc_auc, roc_curve
    from .metrics.verification import tar_at_far, verification_result
    from .data.safe_pickle import SafeUnpickler, UnsafePickleError
    # -- for plugin authors: commands and long jobs -----------------------------------------------
    from .cli.commands import add_set_option, table
    from .runtime.distributed import resolve_device
    from .runtime.files import atomic_output, remove_temporaries, temporary_path, write_atomic
    from .runtime.jobs import FolderLock, check_settings, parallel_map, settings_diff
    from .runtime.progress import Progress
    # -- for applications: components, configs and experiments -----------------------------------
    from .plugin_api.build import build, build_from_table, component_config
    from .plugin_api.registry import Registry, registry
    from .cli.main import main
    from .configs.toml import apply_overrides, load_toml, structure as structure_config, to_toml
    from .engine.experiment import Experiment
    from .engine.trainer import Trainer, build_optimizer
    from .engine.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, load_backbone_weights, load_checkpoint
    from .engine.checkpoint import save_backbone_checkpoint, save_checkpoint
    from .engine.evaluate import evaluate_experiment, markdown_table, write_report
    from .engine.extract import extract_features, validate_online
    from .nn.complexity import count_params_and_macs
    from .nn.export import OnnxFaceModel, check_onnx, export_onnx, onnx_convention
    from .runtime.distributed import init_from_env as init_distributed, world_rank
    # -- for applications: data ---------------------------------------------------------------
    from .data.augment import AugmentConfig, augment
    from .data.datasets import DataConfig, EpochSampler, FaceImageDataset, Preprocess, preprocess_of, read_train_list
    from .data.datasets import source_samples, to_tensor, write_train_list
    from .data.image import ImageLoadError, as_bgr, as_rgb, encode_image, load_image, write_image
    from .data.pairs import LfwPair, PairsFormatError, lfw_image, read_lfw_pairs, write_lfw_pairs


def _lazy_table() -> dict[str, str]:
    """``public name -> (module, name there)`` from the ``if TYPE_CHECKING:`` block above."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    return {alias.asname or alias.name: (node.module or "", alias.name)
            for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}


_LAZY = _lazy_table()

__all__ = ["KINDS", "Command", "Component", "ConfigError", "DataError", "NonFiniteError", "RegistryError",
           "UserError", "ClassifierConfig", "FlattenBackboneConfig", "HeadConfig", "LoopConfig", "OptimizerConfig",
           "PLUGIN_API", "ScheduleConfig", "THRESHOLD_RULES", "__version__", "config", "describe_fields", "hookimpl",
           "hookspec", "option", "threshold_rule_option", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'facex_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"facex_core.{_LAZY[name][0]}"), _LAZY[name][1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
