"""Every FaceX-Zoo backbone family: a checkpoint written by FaceX-Zoo's train.py for a re-created
FaceX-Zoo network (random weights, non-trivial BatchNorm statistics) imports into a FaceX checkpoint
whose evaluation-path embeddings of aligned crops equal FaceX-Zoo's own (cosine >= 0.9999)."""
from __future__ import annotations

import json
import os

import pytest
import torch

import support
import zoo_cnn
import zoo_more
from facex_import.pipeline import import_weights

MIN_COSINE = 0.9999
#: Where the measured cosines go (the README's table is written from them), when set.
REPORT = os.environ.get("FACEX_IMPORT_REPORT")


def _hrnet():
    extra = zoo_more.hrnet_extra(width=8, stage1_channels=16, stage1_blocks=1, modules=(1, 1, 1), blocks=(1, 1, 1))
    return zoo_more.HighResolutionNet({"MODEL": {"out_h": 7, "out_w": 7, "feat_dim": 512, "EXTRA": extra}},
                                      head_channels=(8, 8, 8, 8), final_channels=32)


_HRNET_SET = ["EXTRA.STAGE1.NUM_CHANNELS=[16]", "EXTRA.STAGE1.NUM_BLOCKS=[1]",
              *(f"EXTRA.STAGE{k}.NUM_MODULES=1" for k in (2, 3, 4)),
              *(f"EXTRA.STAGE{k}.NUM_BLOCKS={[1] * k}" for k in (2, 3, 4)),
              *(f"EXTRA.STAGE{k}.NUM_CHANNELS={[8 * 2 ** i for i in range(k)]}" for k in (2, 3, 4)),
              "head_channels=[8,8,8,8]", "final_channels=32"]

#: case id -> (FaceX-Zoo type, network builder, --set overrides, FaceX backbone expected, crop_eye, resize)
CASES = {
    "MobileFaceNet": ("MobileFaceNet", lambda: zoo_cnn.MobileFaceNet(512, 7, 7), [], "mobilefacenet", False, None),
    "MobileFaceNet-eye": ("MobileFaceNet", lambda: zoo_cnn.MobileFaceNet(64, 4, 7), ["feat_dim=64", "out_h=4"],
                          "mobilefacenet", True, None),
    "ResNet-IR": ("ResNet", lambda: zoo_cnn.Resnet(50, 0.4, "ir", 32, units=(2, 1, 1, 1)),
                  ["depth=50", "net_mode=ir", "feat_dim=32", "units=[2,1,1,1]"], "resnet50_ir", False, None),
    "ResNet-IRSE-eye": ("ResNet", lambda: zoo_cnn.Resnet(100, 0.4, "ir_se", 32, 4, 7, units=(1, 2, 1, 1)),
                        ["depth=100", "feat_dim=32", "out_h=4", "units=[1,2,1,1]"], "resnet100_irse", True, None),
    "EfficientNet": ("EfficientNet", lambda: zoo_more.EfficientNet(7, 7, 16, depth=0.5, image_size=224),
                     ["depth=0.5", "image_size=224", "feat_dim=16"], "efficientnet_b0", False, None),
    # FaceX-Zoo's default image_size: padded unlike TensorFlow (facexzoo_image_size = 112)
    "EfficientNet-112": ("EfficientNet", lambda: zoo_more.EfficientNet(7, 7, 16, depth=0.5),
                         ["depth=0.5", "feat_dim=16"], "efficientnet_b0", False, None),
    "EfficientNet-112-eye": ("EfficientNet", lambda: zoo_more.EfficientNet(4, 7, 16, depth=0.5),
                             ["depth=0.5", "feat_dim=16", "out_h=4"], "efficientnet_b0", True, None),
    "HRNet": ("HRNet", _hrnet, _HRNET_SET, "hrnet_w18", False, None),
    "GhostNet": ("GhostNet", lambda: zoo_cnn.GhostNet(1.0, 0.2, 16), ["feat_dim=16"], "ghostnet", False, None),
    "AttentionNet": ("AttentionNet", lambda: zoo_cnn.ResidualAttentionNet(1, 2, 1, 16, 7, 7, width=8),
                     ["stage2_modules=2", "feat_dim=16", "width=8"], "attention56", False, None),
    "TF-NAS": ("TF-NAS", lambda: zoo_cnn.TF_NAS_A(7, 7, 16, 0.2), ["feat_dim=16"], "tfnas_a", False, None),
    "ResNeSt": ("ResNeSt", lambda: zoo_more.ResNeSt(50, 0.4, 16, layers=(1, 1, 1, 1)),
                ["feat_dim=16", "layers=[1,1,1,1]"], "resnest50", False, None),
    "ReXNet": ("ReXNet", lambda: zoo_more.ReXNetV1(use_se=True, feat_dim=16), ["use_se=1", "feat_dim=16"],
               "rexnet_1_0", False, None),
    "LightCNN": ("LightCNN", lambda: zoo_cnn.LightCNN29v2(0.2, 7, 7, 16, channels=(12, 24, 48, 32, 32)),
                 ["feat_dim=16", "channels=[12,24,48,32,32]"], "lightcnn29", False, None),
    "RepVGG": ("RepVGG", lambda: zoo_cnn.RepVGG([1, 2, 1, 1], [0.25] * 4, feat_dim=16),
               ["block_stage1=1", "block_stage2=2", "block_stage3=1", "block_stage4=1", *(
                   f"width_stage{i}=0.25" for i in range(1, 5)), "feat_dim=16"], "repvgg_b1", False, None),
    "RepVGG-deploy": ("RepVGG", lambda: zoo_cnn.RepVGG([1, 2, 1, 1], [0.25] * 4, feat_dim=16),
                      ["block_stage1=1", "block_stage2=2", "block_stage3=1", "block_stage4=1", *(
                          f"width_stage{i}=0.25" for i in range(1, 5)), "feat_dim=16"], "repvgg_b1", False, None),
    "SwinTransformer": ("SwinTransformer", lambda: zoo_more.SwinTransformer(depths=(2, 2, 2, 1)),
                        ["depths=[2,2,2,1]"], "swin_s", False, 224),
}


@pytest.mark.parametrize("case", list(CASES))
def test_import_reproduces_facexzoo_embeddings(case, tmp_path):
    zoo_type, make, sets, facex_name, crop_eye, resize = CASES[case]
    torch.manual_seed(0)
    calibration = support.facexzoo_input(support.synthetic_crops(8, seed=5), crop_eye=crop_eye, size=resize)
    net = support.randomize(make(), seed=1, inputs=calibration)
    if case == "RepVGG-deploy":
        net.switch_to_deploy()
    src = support.save_facexzoo(tmp_path / "Epoch_17.pt", net, data_parallel=case.startswith("ResNet-IRSE"))
    crops = support.crops(2)
    with torch.no_grad():
        reference = net.eval()(support.facexzoo_input(crops, crop_eye=crop_eye, size=resize))
    # the embeddings carry the crop (a network drowned by its last bias would make any mapping pass)
    assert float(support.cosines(reference[:1], reference[1:2])) < 0.99
    out = tmp_path / "imported.pt"
    result = import_weights("facexzoo", src, zoo_type, out, overrides=[f"backbone.{s}" for s in sets])
    assert result.backbone["name"] == facex_name
    assert result.data["crop_eye"] is crop_eye
    got = support.facex_embeddings(out, crops)
    cos = support.cosines(got, reference)
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"source": "facexzoo", "case": case, "min_cosine": float(cos.min())}) + "\n")
    assert float(cos.min()) >= MIN_COSINE, (case, cos.tolist())
    if case == "RepVGG-deploy":
        assert result.backbone["deploy"] is True
    if case.startswith("EfficientNet"):
        assert result.backbone["facexzoo_image_size"] == (112 if "112" in case else 0)
