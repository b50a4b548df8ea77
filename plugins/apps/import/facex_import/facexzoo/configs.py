"""FaceX-Zoo's ``backbone_conf.yaml`` sections as importer configs (torch-free: imported at discovery).

Each class has the keys of one section, named and defaulted as FaceX-Zoo ships them, so that
``facex-core import facexzoo SRC --backbone ResNet --set backbone.depth=50 --set backbone.net_mode=ir``
says what the model was trained with in FaceX-Zoo's own words. Values FaceX-Zoo's code cannot
build or run (an EfficientNet wider than 1.0, LightCNN depth 9, ResNeSt deeper than 50, …) are
rejected here: no checkpoint of them can exist.
"""
from __future__ import annotations

from typing import Any

from facex_core import config, option

#: The map sizes FaceX-Zoo's crops end at: 7×7 from the 112×112 face, 4×7 from the upper-half-face
#: (eye) crop, the top 60 rows (``crop_eye``).
FULL_FACE, UPPER_HALF = 7, 4


def _feat_dim(default: int = 512) -> Any:
    return option(default, ge=1, doc="length of the embedding (FaceX-Zoo feat_dim)")


def _out_h(eye: bool = True) -> Any:
    if eye:
        return option(FULL_FACE, choices=(FULL_FACE, UPPER_HALF),
                      doc="height of the last feature map: 7 for 112x112 crops, 4 for the upper-half-face "
                          "(top 60 rows) model")
    return option(FULL_FACE, choices=(FULL_FACE,),
                  doc="height of the last feature map: 7 (FaceX-Zoo's network cannot run the 60-row "
                      "upper-half-face crop)")


def _out_w() -> Any:
    return option(FULL_FACE, choices=(FULL_FACE,), doc="width of the last feature map (7: 112 pixels wide)")


@config
class MobileFaceNetSection:
    """``MobileFaceNet`` section of FaceX-Zoo's backbone_conf.yaml."""

    feat_dim: int = _feat_dim()
    out_h: int = _out_h()
    out_w: int = _out_w()


@config
class ResNetSection:
    """``ResNet`` section (IR / IR-SE, FaceX-Zoo ``backbone/ResNets.py``)."""

    depth: int = option(152, choices=(50, 100, 152), doc="ResNet depth (units 3,4,14,3 / 3,13,30,3 / 3,8,36,3)")
    drop_ratio: float = option(0.4, ge=0, lt=1, doc="dropout before the output linear layer")
    net_mode: str = option("ir_se", choices=("ir", "ir_se"), doc="'ir' or 'ir_se' (with squeeze-excitation)")
    feat_dim: int = _feat_dim()
    out_h: int = _out_h()
    out_w: int = _out_w()


@config
class EfficientNetSection:
    """``EfficientNet`` section (FaceX-Zoo ``backbone/EfficientNets.py``)."""

    width: float = option(1.0, choices=(1.0,), doc="width coefficient; FaceX-Zoo's output layer is built for 1280 "
                                                   "channels, so only 1.0 runs there")
    depth: float = option(1.0, gt=0, doc="depth coefficient (1.0 = B0, 1.1 = B1)")
    image_size: int = option(112, ge=1, doc="the size FaceX-Zoo computes its static 'same' paddings for")
    drop_ratio: float = option(0.2, ge=0, lt=1, doc="dropout before the output linear layer")
    out_h: int = _out_h()
    out_w: int = _out_w()
    feat_dim: int = _feat_dim()


def _check_hrnet_extra(_instance: Any, _attribute: Any, value: Any) -> None:
    if not isinstance(value, dict) or not all(f"STAGE{k}" in value for k in (1, 2, 3, 4)):
        raise ValueError("EXTRA must be a table with STAGE1 .. STAGE4 (FaceX-Zoo's HRNet layout)")


def _w18_extra() -> dict[str, Any]:
    def stage(modules: int, branches: int, block: str, blocks: list[int], channels: list[int]) -> dict[str, Any]:
        return {"NUM_MODULES": modules, "NUM_BRANCHES": branches, "BLOCK": block, "NUM_BLOCKS": blocks,
                "NUM_CHANNELS": channels, "FUSE_METHOD": "SUM"}
    return {"STAGE1": stage(1, 1, "BOTTLENECK", [4], [64]),
            "STAGE2": stage(1, 2, "BASIC", [4, 4], [18, 36]),
            "STAGE3": stage(4, 3, "BASIC", [4, 4, 4], [18, 36, 72]),
            "STAGE4": stage(3, 4, "BASIC", [4, 4, 4, 4], [18, 36, 72, 144])}


@config
class HRNetSection:
    """``HRNet`` section (FaceX-Zoo ``backbone/HRNet.py``); ``EXTRA`` holds the STAGE1..4 tables."""

    NAME: str = option("cls_hrnet", doc="model name (informational)")
    out_h: int = _out_h(eye=False)
    out_w: int = _out_w()
    feat_dim: int = option(512, choices=(512,), doc="length of the embedding; FaceX-Zoo's last BatchNorm1d is "
                                                    "built for 512, so only 512 runs there")
    IMAGE_SIZE: tuple[int, int] = option((112, 112), ge=1, doc="input size (informational)")
    EXTRA: dict[str, Any] = option(factory=_w18_extra, validator=_check_hrnet_extra,
                                   doc="STAGE1..STAGE4 tables: NUM_MODULES, NUM_BRANCHES, BLOCK, NUM_BLOCKS, "
                                       "NUM_CHANNELS, FUSE_METHOD (default: the W18 layout)")


@config
class GhostNetSection:
    """``GhostNet`` section (FaceX-Zoo ``backbone/GhostNet.py``)."""

    width: float = option(1.0, choices=(1.0,), doc="width multiplier; FaceX-Zoo's output layer is built for 960 "
                                                   "channels, so only 1.0 runs there")
    drop_ratio: float = option(0.2, ge=0, lt=1, doc="dropout before the output linear layer")
    feat_dim: int = _feat_dim()
    out_h: int = _out_h()
    out_w: int = _out_w()


@config
class AttentionNetSection:
    """``AttentionNet`` section (FaceX-Zoo ``backbone/AttentionNets.py``): (1,1,1) = Attention-56,
    (1,2,3) = Attention-92."""

    stage1_modules: int = option(1, ge=1, doc="attention modules in stage 1")
    stage2_modules: int = option(1, ge=1, doc="attention modules in stage 2")
    stage3_modules: int = option(1, ge=1, doc="attention modules in stage 3")
    feat_dim: int = _feat_dim()
    out_h: int = _out_h(eye=False)
    out_w: int = _out_w()


@config
class TFNASSection:
    """``TF-NAS`` section (FaceX-Zoo ``backbone/TF_NAS.py``, TF-NAS-A)."""

    feat_dim: int = _feat_dim()
    drop_ratio: float = option(0.2, ge=0, lt=1, doc="dropout before the output linear layer")
    out_h: int = _out_h()
    out_w: int = _out_w()


@config
class ResNeStSection:
    """``ResNeSt`` section (FaceX-Zoo ``backbone/resnest``)."""

    depth: int = option(50, choices=(50,), doc="depth; FaceX-Zoo's deeper ResNeSts fail at their first "
                                               "forward (a 128-channel stage after its 64-channel input layer)")
    drop_ratio: float = option(0.4, ge=0, lt=1, doc="dropout before the output linear layer")
    feat_dim: int = _feat_dim()
    out_h: int = _out_h()
    out_w: int = _out_w()


@config
class ReXNetSection:
    """``ReXNet`` section (FaceX-Zoo ``backbone/ReXNets.py``)."""

    input_ch: int = option(16, ge=1, doc="output channels of the first block")
    final_ch: int = option(180, ge=0, doc="channel growth over the blocks")
    width_mult: float = option(1.0, choices=(1.0,), doc="width multiplier; FaceX-Zoo's output layer is built for "
                                                        "512 channels, so only 1.0 runs there")
    depth_mult: float = option(1.0, gt=0, doc="depth multiplier")
    use_se: int = option(0, choices=(0, 1), doc="squeeze-excitation in stages 3-6 (1) or not (0)")
    se_ratio: int = option(12, ge=1, doc="squeeze-excitation reduction")
    out_h: int = _out_h()
    out_w: int = _out_w()
    feat_dim: int = _feat_dim()
    dropout_ratio: float = option(0.2, ge=0, lt=1, doc="dropout before the output linear layer")


@config
class LightCNNSection:
    """``LightCNN`` section (FaceX-Zoo ``backbone/LightCNN.py``)."""

    depth: int = option(29, choices=(29,), doc="depth; FaceX-Zoo's depth 9 fails to build (its network_9layers "
                                               "takes only num_classes)")
    out_h: int = _out_h(eye=False)
    out_w: int = _out_w()
    feat_dim: int = _feat_dim()
    dropout_ratio: float = option(0.2, ge=0, lt=1, doc="dropout before the output linear layer")


@config
class RepVGGSection:
    """``RepVGG`` section (FaceX-Zoo ``backbone/RepVGG.py``); the defaults are RepVGG-B1. FaceX-Zoo's
    factory passes only the block counts and widths, so its networks always end at 512 from 7x7."""

    block_stage1: int = option(4, ge=1, doc="blocks in stage 1")
    block_stage2: int = option(6, ge=1, doc="blocks in stage 2")
    block_stage3: int = option(16, ge=1, doc="blocks in stage 3")
    block_stage4: int = option(1, ge=1, doc="blocks in stage 4")
    width_stage1: float = option(2.0, gt=0, doc="width multiplier of stage 1")
    width_stage2: float = option(2.0, gt=0, doc="width multiplier of stage 2")
    width_stage3: float = option(2.0, gt=0, doc="width multiplier of stage 3")
    width_stage4: float = option(4.0, gt=0, doc="width multiplier of stage 4")
    out_h: int = _out_h(eye=False)
    out_w: int = _out_w()
    feat_dim: int = option(512, ge=1, doc="length of the embedding (FaceX-Zoo's factory always builds 512)")


@config
class SwinSection:
    """``SwinTransformer`` section (FaceX-Zoo ``backbone/Swin_Transformer.py``); the defaults are Swin-S.
    FaceX-Zoo's output layer is hard-coded to a 7x7x768 map and 512 outputs."""

    img_size: int = option(224, choices=(224,), doc="input size: the 112x112 crops resized to 224x224")
    patch_size: int = option(4, choices=(4,), doc="patch side of the stem")
    in_chans: int = option(3, choices=(3,), doc="input channels")
    embed_dim: int = option(96, choices=(96,), doc="channels of stage 1 (the output layer needs 96 * 8 = 768)")
    depths: tuple[int, ...] = option((2, 2, 18, 2), ge=1, doc="blocks per stage (four stages)")
    num_heads: tuple[int, ...] = option((3, 6, 12, 24), ge=1, doc="attention heads per stage")
    window_size: int = option(7, ge=1, doc="attention window side")
    mlp_ratio: float = option(4.0, gt=0, doc="MLP hidden width / channels")
    drop_rate: float = option(0.0, ge=0, lt=1, doc="dropout rate")
    drop_path_rate: float = option(0.3, ge=0, lt=1, doc="stochastic depth of the last block")
