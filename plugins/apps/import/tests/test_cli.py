"""``facex-core import facexzoo|insightface`` as users run it: output, errors on one line with exit 2,
and the imported checkpoint taken by the core's ``export onnx``."""
from __future__ import annotations

import json

import pytest
import torch

import insight_nets as insight
import support
import zoo_cnn


@pytest.fixture(scope="module")
def epoch_file(tmp_path_factory):
    torch.manual_seed(0)
    net = support.randomize(zoo_cnn.MobileFaceNet(64, 4, 7), seed=2,
                            inputs=support.facexzoo_input(support.synthetic_crops(4, seed=5), crop_eye=True))
    return support.save_facexzoo(tmp_path_factory.mktemp("zoo") / "Epoch_17.pt", net)


def test_group_lists_both_sources(cli):
    result = cli("import", "--help")
    assert result.returncode == 0 and "facexzoo" in result.stdout and "insightface" in result.stdout


def test_import_facexzoo_then_export_onnx(cli, epoch_file, tmp_path):
    out = tmp_path / "eye.pt"
    result = cli("import", "facexzoo", str(epoch_file), "--backbone", "MobileFaceNet", "--set", "backbone.feat_dim=64",
                 "--set", "backbone.out_h=4", "--out", str(out), "--with-head", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["input_convention"] == {"channels": "BGR", "mean": 127.5, "std": 128.0, "crop_eye": True}
    assert summary["backbone"]["input_size"] == [60, 112] and summary["source"]["head_classes"] == 11
    exported = cli("export", "onnx", str(out), str(tmp_path / "eye.onnx"), "--exporter", "legacy")
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "eye.onnx").is_file()


def test_errors_are_one_line_with_exit_2(cli, epoch_file, tmp_path):
    (tmp_path / "taken.pt").write_bytes(b"x")
    result = cli("import", "facexzoo", str(epoch_file), "--backbone", "MobileFaceNet", "--out",
                 str(tmp_path / "taken.pt"))
    assert result.returncode == 2 and "exists; pass --overwrite" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli("import", "facexzoo", str(epoch_file), "--backbone", "MobileFaceNet", "--out", str(tmp_path / "o.pt"))
    assert result.returncode == 2 and "does not fit mobilefacenet's" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_insightface_text_summary(cli, tmp_path):
    torch.manual_seed(0)
    net = insight.MobileFaceNet(128, (1, 4, 6, 2), 2)
    torch.save(net.state_dict(), tmp_path / "backbone.pth")
    result = cli("import", "insightface", str(tmp_path / "backbone.pth"), "--backbone", "mbf", "--set",
                 "backbone.num_features=128", "--out", str(tmp_path / "mbf.pt"))
    assert result.returncode == 0, result.stderr
    assert "mbf from backbone.pth" in result.stdout and "input: RGB, (x - 127.5) / 127.5" in result.stdout
