import pytest

import facex_core
from facex_core import ConfigError
from facex_core.configs.toml import apply_overrides, parse_override, structure, to_toml, load_toml
from facex_core.engine.experiment import Experiment

MINIMAL = """
[experiment]
name = "t"
output_dir = "{out}"

[data]
root = "{out}/images"
train_list = "{out}/list.txt"

[backbone]
name = "tiny"

[head]
name = "margin"
num_classes = 10

[training]
name = "plain"

[training.loop]
epochs = 2
"""


def write(tmp_path, text):
    path = tmp_path / "exp.toml"
    path.write_text(text.format(out=tmp_path))
    return path


def test_defaults_fill_in_and_head_takes_embedding_size_from_backbone(tmp_path):
    exp = Experiment.from_file(write(tmp_path, MINIMAL + "\n[backbone.x]\n" if False else MINIMAL))
    resolved = exp.resolved()
    assert resolved["training"]["loop"]["epochs"] == 2
    assert resolved["training"]["loop"]["batch_size"] == 512          # paper default kept
    assert resolved["training"]["optimizer"]["momentum"] == 0.9
    assert resolved["head"]["scale"] == 16.0 and resolved["head"]["margin"] == 0.2  # the double's defaults
    assert resolved["head"]["embedding_size"] == resolved["backbone"]["embedding_size"] == 16


@pytest.mark.parametrize("edit, expected", [
    (("epochs = 2", "epochs = 2\nepoch = 3"), "training.loop.epoch: unknown key"),
    (("epochs = 2", 'epochs = "two"'), "training.loop.epochs: expected an integer"),
    (("epochs = 2", "epochs = 2.5"), "training.loop.epochs: expected an integer"),
    (("num_classes = 10", "num_classes = 10\nmargin = true"), "head.margin: expected a number"),
    (('name = "margin"', 'name = "margn"'), "head.name: no head named 'margn'"),
    (('name = "t"', 'name = "t"\ncolour = 1'), "experiment.colour: unknown key"),
    (('[training]', '[trainning]'), "trainning: unknown section"),
    (('root = "{out}/images"\n', ''), "data.root: required key missing"),
])
def test_config_errors_name_key_path_and_file(tmp_path, edit, expected):
    path = write(tmp_path, MINIMAL.replace(*edit))
    with pytest.raises(ConfigError) as err:
        Experiment.from_file(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_toml_syntax_error_names_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[experiment\nname = 1\n")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_toml(path)


def test_set_overrides_parse_toml_values_and_create_tables():
    assert parse_override("training.loop.epochs=3") == (["training", "loop", "epochs"], 3)
    assert parse_override("head.scale=32.0") == (["head", "scale"], 32.0)
    assert parse_override("backbone.name=tiny") == (["backbone", "name"], "tiny")
    assert parse_override("x.flag=true") == (["x", "flag"], True)
    assert parse_override("s.milestones=[1, 2]") == (["s", "milestones"], [1, 2])
    data = apply_overrides({"a": {"b": 1}}, ["a.b=2", "c.d.e=\"x\""])
    assert data == {"a": {"b": 2}, "c": {"d": {"e": "x"}}}
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        parse_override("novalue")


def test_set_override_reaches_experiment_and_is_validated(tmp_path):
    path = write(tmp_path, MINIMAL)
    exp = Experiment.from_file(path, ["training.loop.epochs=5", "head.margin=0.3"])
    assert exp.training.config.loop.epochs == 5 and exp.head.config.margin == 0.3
    with pytest.raises(ConfigError, match="training.loop.epochs: expected an integer"):
        Experiment.from_file(path, ["training.loop.epochs=five"])


def test_config_show_round_trips_through_toml(tmp_path, cli):
    path = write(tmp_path, MINIMAL)
    res = cli("config", "show", str(path), "--set", "head.scale=30.0")
    assert res.returncode == 0, res.stderr
    shown = tmp_path / "shown.toml"
    shown.write_text(res.stdout)
    again = Experiment.from_file(shown)
    assert again.head.config.scale == 30.0
    assert again.resolved() == Experiment.from_file(path, ["head.scale=30.0"]).resolved()


def test_cli_reports_config_error_without_traceback(tmp_path, cli):
    path = write(tmp_path, MINIMAL.replace("epochs = 2", "epochs = -")) 
    res = cli("config", "show", str(path))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "exp.toml" in res.stderr


def test_build_validates_keywords_like_toml():
    head = facex_core.build("head", "margin", num_classes=5, embedding_size=8, scale=30.0)
    assert head.weight.shape == (5, 8) and head.config.scale == 30.0
    with pytest.raises(ConfigError, match="head.num_classes: required key missing"):
        facex_core.build("head", "margin")


def test_structure_rejects_bool_for_int():
    @facex_core.config
    class C:
        n: int = facex_core.option(1, doc="n")

    with pytest.raises(ConfigError, match="x.n: expected an integer"):
        structure(C, {"n": True}, path="x")
    assert to_toml({"a": 1, "t": {"b": [1, 2], "s": "q"}}) == 'a = 1\n\n[t]\nb = [1, 2]\ns = "q"\n'


TWO_PAIRS = """
[[evaluation.protocols]]
name = "pairs"
pairs_file = "{out}/pairs.txt"
image_root = "{out}/images"
label = "pairs_plain"

[[evaluation.protocols]]
name = "pairs"
pairs_file = "{out}/pairs_masked.txt"
image_root = "{out}/masked"
"""


def test_protocol_label_names_the_results_column_and_round_trips(tmp_path):
    exp = Experiment.from_file(write(tmp_path, MINIMAL + TWO_PAIRS))
    names = [name for name, _ in exp.build_protocols()]
    assert names == ["pairs_plain", "pairs"]  # unlabelled entries keep the component name
    protocols = exp.resolved()["evaluation"]["protocols"]
    assert protocols[0]["label"] == "pairs_plain" and "label" not in protocols[1]
    again = Experiment(load_toml_text(to_toml(exp.resolved()), tmp_path), source="round trip")
    assert [name for name, _ in again.build_protocols()] == names
    with pytest.raises(ConfigError, match=r"evaluation.protocols\[0\].label: expected a string"):
        Experiment.from_file(write(tmp_path, MINIMAL + TWO_PAIRS.replace('"pairs_plain"', "3")))


def load_toml_text(text, tmp_path):
    path = tmp_path / "round_trip.toml"
    path.write_text(text)
    return load_toml(path)
