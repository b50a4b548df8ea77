"""``facex-core import facexzoo`` and ``facex-core import insightface`` (light: the work is imported in ``run``)."""
from __future__ import annotations

import argparse
import json
import sys

_SET_HELP = ("a key of the source's own description of the network, repeatable: for FaceX-Zoo its "
             "backbone_conf.yaml section (--set backbone.depth=50 --set backbone.net_mode=ir), for InsightFace "
             "get_model's keywords (--set backbone.num_features=256); any other key is a field of the FaceX "
             "backbone it becomes (facex-core describe backbone NAME)")


def _common(p: argparse.ArgumentParser, source: str, example: str) -> None:
    p.add_argument("src", help="the model file")
    p.add_argument("--backbone", required=True, metavar="NAME", help=example)
    p.add_argument("--set", action="append", default=[], metavar="backbone.KEY=VALUE", help=_SET_HELP)
    p.add_argument("--out", required=True, metavar="DST.pt", help="the FaceX checkpoint to write")
    p.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run, source=source, interrupt_hint="nothing was written; rerun the command")


def setup_facexzoo(p: argparse.ArgumentParser) -> None:
    """Arguments of ``import facexzoo``."""
    p.description = (
        "Reads a FaceX-Zoo checkpoint as its train.py writes it ({'state_dict', 'epoch', 'batch_id'}, keys "
        "backbone.* and head.*, module.* when saved from DataParallel) or a backbone state_dict, without "
        "unpickling code, and writes a FaceX checkpoint: BGR input, (x - 127.5) / 128, as FaceX-Zoo.")
    _common(p, "facexzoo", "FaceX-Zoo backbone type (backbone_conf.yaml section): MobileFaceNet, ResNet, "
                           "EfficientNet, HRNet, GhostNet, AttentionNet, TF-NAS, ResNeSt, ReXNet, LightCNN, "
                           "RepVGG, SwinTransformer")
    p.add_argument("--with-head", action="store_true",
                   help="also keep the head's class centres (head.classifier.weight, C x D) for a fine-tune on "
                        "the same identities")


def setup_insightface(p: argparse.ArgumentParser) -> None:
    """Arguments of ``import insightface``."""
    p.description = (
        "Reads an arcface_torch backbone.pth (or checkpoint_gpu_N.pt) state dict, or an ONNX model "
        "(torch2onnx.py exports, model packs such as w600k_r50.onnx / glintr100.onnx / w600k_mbf.onnx; "
        "mapped by graph structure and checked against onnxruntime), and writes a FaceX checkpoint: RGB "
        "input, (x - 127.5) / 127.5, as InsightFace (or the graph's own normalisation).")
    _common(p, "insightface", "arcface_torch get_model name: r18, r34, r50, r100, r200, mbf, mbf_large, vit_t, "
                              "vit_s, vit_b, vit_*_dp005_* (iresnetNN also accepted)")
    p.set_defaults(with_head=False)


def run(args: argparse.Namespace) -> int:
    """Import; print what was written."""
    from .pipeline import import_weights

    result = import_weights(args.source, args.src, args.backbone, args.out, overrides=args.set,
                            with_head=args.with_head, overwrite=args.overwrite,
                            log=lambda msg: print(f"facex-core import: {msg}", file=sys.stderr))
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    data = summary["input_convention"]
    print(f"wrote {result.out}: {result.backbone['name']} from {result.source['file']} "
          f"(sha256 {result.source['sha256'][:12]}...)")
    print(f"input: {data['channels']}, (x - {data['mean']:g}) / {data['std']:g}, {result.backbone.get('input_size')}"
          f"{', upper-half face (crop_eye)' if data['crop_eye'] else ''}")
    if "head_classes" in result.source:
        print(f"head: {result.source['head_classes']} class centres from {result.source['head_key']}")
    if "onnxruntime_min_cosine" in result.checks:
        print(f"check: min cosine against onnxruntime {result.checks['onnxruntime_min_cosine']}")
    return 0
