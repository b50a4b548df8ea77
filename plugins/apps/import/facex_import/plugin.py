"""Registration of facex-import (light: no torch, numpy or onnx import).

* components of kind ``weights_importer``, one per source network: ``facexzoo.<type>`` for each type of
  FaceX-Zoo's ``backbone_conf.yaml`` (config = that yaml section) and ``insightface.<name>`` for each
  arcface_torch ``get_model`` name. A third-party backbone plugin ships its own importer the same way:
  a ``weights_importer`` component named ``<source>.<name>`` whose factory subclasses
  :class:`facex_import.importer.WeightsImporter`;
* the command group ``import`` with ``import facexzoo`` and ``import insightface``, which find the
  importers through the registry.
"""
from __future__ import annotations

from facex_core import Command, Component, hookimpl

from .facexzoo import configs as zoo
from .insightface import configs as insight

#: Component kind of the importers (a new kind, declared by this distribution).
KIND = "weights_importer"
#: Sources the ``import`` command has a sub-command for.
SOURCES = ("facexzoo", "insightface")

_ZOO = "FaceX-Zoo (JDAI-CV/FaceX-Zoo): the "
#: FaceX-Zoo backbone type (its backbone_conf.yaml section) -> (module, class, config, summary).
FACEXZOO = {
    "MobileFaceNet": ("mobilefacenet", "MobileFaceNetImporter", zoo.MobileFaceNetSection,
                      "FaceX-Zoo MobileFaceNet -> mobilefacenet"),
    "ResNet": ("resnet", "ResNetImporter", zoo.ResNetSection, "FaceX-Zoo ResNet IR / IR-SE 50/100/152 -> resnet*"),
    "EfficientNet": ("efficientnet", "EfficientNetImporter", zoo.EfficientNetSection,
                     "FaceX-Zoo EfficientNet -> efficientnet_b*"),
    "HRNet": ("hrnet", "HRNetImporter", zoo.HRNetSection, "FaceX-Zoo HRNet -> hrnet_w18"),
    "GhostNet": ("ghostnet", "GhostNetImporter", zoo.GhostNetSection, "FaceX-Zoo GhostNet -> ghostnet"),
    "AttentionNet": ("attention", "AttentionNetImporter", zoo.AttentionNetSection,
                     "FaceX-Zoo AttentionNet (Attention-56/92) -> attention56/92"),
    "TF-NAS": ("tfnas", "TFNASImporter", zoo.TFNASSection, "FaceX-Zoo TF-NAS-A -> tfnas_a"),
    "ResNeSt": ("resnest", "ResNeStImporter", zoo.ResNeStSection, "FaceX-Zoo ResNeSt-50 -> resnest50"),
    "ReXNet": ("rexnet", "ReXNetImporter", zoo.ReXNetSection, "FaceX-Zoo ReXNet -> rexnet_1_0"),
    "LightCNN": ("lightcnn", "LightCNNImporter", zoo.LightCNNSection, "FaceX-Zoo LightCNN-29 v2 -> lightcnn29"),
    "RepVGG": ("repvgg", "RepVGGImporter", zoo.RepVGGSection, "FaceX-Zoo RepVGG (training or deploy form) -> repvgg_*"),
    "SwinTransformer": ("swin", "SwinImporter", zoo.SwinSection, "FaceX-Zoo Swin Transformer -> swin_t/swin_s"),
}

_AT = "InsightFace arcface_torch backbones."


def _insightface() -> list[Component]:
    out = []
    for name, cfg in insight.IRESNET_CONFIGS.items():
        out.append(Component(kind=KIND, name=f"insightface.{name}", config=cfg,
                             factory="facex_import.insightface.iresnet:IResNetImporter",
                             summary=f"InsightFace {name} (backbone.pth or ONNX) -> iresnet{name[1:]}",
                             paper=_AT + "get_model(" + repr(name) + "), iresnet.py"))
    for name, cfg, what in (("mbf", insight.MBFModel, "mbf"), ("mbf_large", insight.MBFLargeModel, "mbf (width 4)")):
        out.append(Component(kind=KIND, name=f"insightface.{name}", config=cfg,
                             factory="facex_import.insightface.mbf:MBFImporter",
                             summary=f"InsightFace {name} (backbone.pth or ONNX) -> {what}",
                             paper=_AT + f"get_model({name!r}), mobilefacenet.py"))
    for name, cfg in insight.VIT_CONFIGS.items():
        out.append(Component(kind=KIND, name=f"insightface.{name}", config=cfg,
                             factory="facex_import.insightface.vit:ViTImporter",
                             summary=f"InsightFace {name} (backbone.pth or ONNX) -> {insight.VIT_MODELS[name][0]}",
                             paper=_AT + f"get_model({name!r}), vit.py"))
    return out


@hookimpl
def facex_components() -> list[Component]:
    zoo_importers = [Component(kind=KIND, name=f"facexzoo.{kind.lower()}", config=cfg,
                               factory=f"facex_import.facexzoo.{module}:{cls}", summary=summary,
                               paper=_ZOO + f"{kind} section of training_mode/backbone_conf.yaml")
                     for kind, (module, cls, cfg, summary) in FACEXZOO.items()]
    return zoo_importers + _insightface()


@hookimpl
def facex_commands() -> list[Command]:
    return [Command(name="import", help="turn a model trained by FaceX-Zoo or InsightFace into a FaceX checkpoint"),
            Command(name="facexzoo", group="import",
                    help="FaceX-Zoo training checkpoint (Epoch_N.pt) -> FaceX checkpoint",
                    setup="facex_import.commands:setup_facexzoo"),
            Command(name="insightface", group="import",
                    help="InsightFace backbone.pth or ONNX (torch2onnx, model packs) -> FaceX checkpoint",
                    setup="facex_import.commands:setup_insightface")]
