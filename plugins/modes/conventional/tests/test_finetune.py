"""Fine-tuning in the conventional mode: ``[training] init`` (strict backbone, centres kept when the classes
match), ``init_ignore``, the input-convention check, backbone freezing and its learning-rate multiplier."""
import cv2
import numpy as np
import pytest
import torch

import facex_core
from facex_core import ConfigError, Experiment, load_checkpoint
from facex_core.testing import torch_threads

CONFIG = """
[experiment]
name = "{name}"
output_dir = "{out}/{name}"
[data]
root = "{out}/{data}/images"
train_list = "{out}/{data}/list.txt"
num_workers = 0
{data_extra}
[backbone]
name = "mobilefacenet"
embedding_size = {dim}
input_size = [32, 32]
[head]
name = "arcface"
scale = 16.0
margin = 0.2
[training]
name = "conventional"
{training}
[training.loop]
epochs = 2
batch_size = 4
log_every = 1
[training.optimizer]
lr = 0.05
{optimizer}
"""


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def write_data(root, identities, seed):
    rng = np.random.default_rng(seed)
    lines = []
    for ident in range(identities):
        (root / "images" / str(ident)).mkdir(parents=True)
        for k in range(4):
            img = cv2.GaussianBlur(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), (5, 5), 1)
            cv2.imwrite(str(root / "images" / str(ident) / f"{k}.png"), img)
            lines.append(f"{ident}/{k}.png {ident}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")


def experiment(tmp_path, name, data="data3", dim=16, training="", data_extra="", optimizer="", overrides=None):
    path = tmp_path / f"{name}.toml"
    path.write_text(CONFIG.format(out=tmp_path, name=name, data=data, dim=dim, training=training,
                                  data_extra=data_extra, optimizer=optimizer))
    return Experiment.from_file(path, overrides)


@pytest.fixture
def pretrained(tmp_path):
    """A run on 3 identities; its last.pt is the init of the fine-tuning runs (whose data: 3 or 4 others)."""
    write_data(tmp_path / "data3", 3, seed=0)
    write_data(tmp_path / "data3b", 3, seed=1)
    write_data(tmp_path / "data4", 4, seed=2)
    exp = experiment(tmp_path, "pre")
    exp.build_training_mode().run(exp)
    return tmp_path / "pre" / "checkpoints" / "last.pt"


def built(exp):
    exp.seed_everything()
    return exp.build_backbone(), exp.build_head()


def load_init(exp, backbone, head):
    from facex_mode_conventional.finetune import load_init as load

    mode = exp.build_training_mode()
    return load(mode.config.init, mode.config.init_ignore, exp, backbone, head)


def test_init_loads_the_backbone_strictly_and_keeps_the_centres_when_the_classes_match(tmp_path, pretrained):
    exp = experiment(tmp_path, "ft", data="data3b", training=f'init = "{pretrained}"')
    backbone, head = built(exp)
    lines = load_init(exp, backbone, head)
    init = load_checkpoint(pretrained)["model"]
    assert all(torch.equal(v, init["backbone." + k]) for k, v in backbone.state_dict().items())
    assert torch.equal(head.classifier.weight, init["head.classifier.weight"])
    assert lines[0].startswith(f"training.init: backbone weights loaded from {pretrained}")
    assert lines[-1] == f"training.init: class centres kept from {pretrained} (3 classes × 16-d)"


def test_other_classes_get_fresh_centres_and_the_log_says_so(tmp_path, pretrained):
    exp = experiment(tmp_path, "ft", data="data4", training=f'init = "{pretrained}"')
    _, fresh = built(exp)
    backbone, head = built(exp)
    lines = load_init(exp, backbone, head)
    assert torch.equal(head.classifier.weight, fresh.classifier.weight)  # the run's own initialisation
    assert lines[-1] == (f"training.init: class centres initialised afresh ({pretrained} has 3 classes × 16-d, "
                         "this run 4 × 16-d)")


def test_init_ignore_head_gives_fresh_centres_for_the_same_classes(tmp_path, pretrained):
    exp = experiment(tmp_path, "ft", data="data3b", training=f'init = "{pretrained}"\ninit_ignore = ["head"]')
    _, fresh = built(exp)
    backbone, head = built(exp)
    lines = load_init(exp, backbone, head)
    assert torch.equal(head.classifier.weight, fresh.classifier.weight)
    assert lines[-1] == "training.init: class centres initialised afresh (training.init_ignore lists them)"


def test_a_frozen_backbone_stays_the_inits_while_the_head_trains(tmp_path, pretrained, capfd):
    exp = experiment(tmp_path, "ft", data="data3b", training=f'init = "{pretrained}"\nfreeze_backbone_steps = 100')
    result = exp.build_training_mode().run(exp)
    assert result.finished and result.global_step == 6
    init, after = load_checkpoint(pretrained)["model"], load_checkpoint(tmp_path / "ft/checkpoints/last.pt")["model"]
    backbone, _ = built(exp)
    params = ["backbone." + n for n, _ in backbone.named_parameters()]
    assert all(torch.equal(init[k], after[k]) for k in params)
    assert not torch.equal(init["head.classifier.weight"], after["head.classifier.weight"])
    assert "class centres kept" in capfd.readouterr().err


def one_step_change(tmp_path, pretrained, name, mult):
    """Parameter changes of one plain SGD step (no momentum, no decay) from the init."""
    exp = experiment(tmp_path, name, data="data3b", training=f'init = "{pretrained}"\nbackbone_lr_mult = {mult}',
                     optimizer="momentum = 0.0\nweight_decay = 0.0", overrides=["training.loop.max_steps=1"])
    exp.build_training_mode().run(exp)
    init, after = load_checkpoint(pretrained)["model"], load_checkpoint(tmp_path / name / "checkpoints/last.pt")
    assert after["global_step"] == 1
    keys = ["backbone." + n for n, _ in built(exp)[0].named_parameters()] + ["head.classifier.weight"]
    return {k: after["model"][k] - init[k] for k in keys}


def test_backbone_lr_mult_scales_only_the_backbones_step(tmp_path, pretrained):
    half, full = (one_step_change(tmp_path, pretrained, f"m{m}", m) for m in (0.5, 1.0))
    for k in half:  # SGD: w - lr·s·g, the same gradient g in both runs (float32 rounding of w: atol)
        expected = full[k] if k.startswith("head.") else 0.5 * full[k]
        torch.testing.assert_close(half[k], expected, rtol=1e-3, atol=1e-6)
    ratio = sum(half[k].norm() for k in half if k.startswith("backbone.")) / \
        sum(full[k].norm() for k in full if k.startswith("backbone."))
    assert abs(float(ratio) - 0.5) < 1e-3
    assert any(full[k].abs().max() > 0 for k in full if k.startswith("backbone."))


def test_freezing_and_the_multiplier_resume_bit_for_bit(tmp_path, pretrained):
    training = f'init = "{pretrained}"\nfreeze_backbone_steps = 3\nbackbone_lr_mult = 0.5'
    straight = experiment(tmp_path, "straight", data="data3b", training=training)
    straight.build_training_mode().run(straight)
    part = experiment(tmp_path, "parts", data="data3b", training=training, overrides=["training.loop.max_steps=2"])
    assert not part.build_training_mode().run(part).finished
    rest = experiment(tmp_path, "parts", data="data3b", training=training)
    assert rest.build_training_mode().run(rest, resume=True).global_step == 6
    a = load_checkpoint(tmp_path / "straight/checkpoints/last.pt")
    b = load_checkpoint(tmp_path / "parts/checkpoints/last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    scales = [(g["part"], g["lr_scale"]) for g in b["optimizer"]["param_groups"]]
    assert scales == [("backbone", 0.5), ("head", 1.0)]
    assert not torch.equal(a["model"]["backbone.linear.weight"],
                           load_checkpoint(pretrained)["model"]["backbone.linear.weight"])  # unfrozen at step 3


def test_init_ignore_leaves_listed_layers_out_and_a_misfit_names_them(tmp_path, pretrained):
    exp = experiment(tmp_path, "ft8", data="data3b", dim=8, training=f'init = "{pretrained}"')
    with pytest.raises(ConfigError, match=r"of another shape: backbone\.linear\.weight \(16, ") as err:
        load_init(exp, *built(exp))
    assert "training.init_ignore" in str(err.value)
    exp = experiment(tmp_path, "ft8", data="data3b", dim=8,
                     training=f'init = "{pretrained}"\ninit_ignore = ["backbone.linear", "backbone.bn"]')
    fresh, _ = built(exp)
    backbone, head = built(exp)
    lines = load_init(exp, backbone, head)
    init = load_checkpoint(pretrained)["model"]
    for k, v in backbone.state_dict().items():
        expected = fresh.state_dict()[k] if k.startswith(("linear.", "bn.")) else init["backbone." + k]
        assert torch.equal(v, expected), k
    assert any("left out as training.init_ignore lists" in line and "(6 in all)" in line for line in lines)
    assert lines[-1].endswith("has 3 classes × 16-d, this run 3 × 8-d)")


def test_init_ignore_must_name_weights_of_the_init(tmp_path, pretrained):
    exp = experiment(tmp_path, "ft", data="data3b", training=f'init = "{pretrained}"\ninit_ignore = ["backbone.fc"]')
    with pytest.raises(ConfigError, match="training.init_ignore: 'backbone.fc' names no weight"):
        load_init(exp, *built(exp))
    with pytest.raises(ConfigError, match="init_ignore lists weights to leave out of training.init, which is not set"):
        experiment(tmp_path, "ft2", training='init_ignore = ["head"]')


def test_the_runs_input_convention_must_be_the_inits(tmp_path, pretrained):
    exp = experiment(tmp_path, "rgb", data="data3b", training=f'init = "{pretrained}"', data_extra='channels = "RGB"')
    with pytest.raises(ConfigError) as err:
        exp.build_training_mode().run(exp)
    assert (f"training.init: {pretrained} was trained on BGR, (x - 127.5) / 128 input, but this run's [data] "
            "gives RGB, (x - 127.5) / 128") in str(err.value)


def test_a_backbone_only_checkpoint_of_another_convention_fine_tunes(tmp_path, pretrained):
    """Like an imported InsightFace model: backbone weights only, RGB, (x - 127.5) / 127.5."""
    rgb = 'channels = "RGB"\nstd = 127.5'
    source = experiment(tmp_path, "src", data="data3", data_extra=rgb)
    backbone, _ = built(source)
    facex_core.save_backbone_checkpoint(tmp_path / "imported.pt", source.resolved(), backbone)
    exp = experiment(tmp_path, "ft", data="data3b", data_extra=rgb, training=f'init = "{tmp_path / "imported.pt"}"')
    mine, head = built(exp)
    lines = load_init(exp, mine, head)
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in mine.state_dict().items())
    assert lines[-1] == f"training.init: class centres initialised afresh ({tmp_path / 'imported.pt'} holds none)"


def test_imported_centres_without_a_head_record_are_kept_when_their_shape_matches(tmp_path, pretrained):
    """``facex-core import facexzoo --with-head`` writes head.classifier.weight but no [head] table."""
    ckpt = load_checkpoint(pretrained)
    ckpt["config"].pop("head")
    facex_core.save_checkpoint(tmp_path / "imported.pt", ckpt)
    exp = experiment(tmp_path, "ft", data="data3b", training=f'init = "{tmp_path / "imported.pt"}"')
    backbone, head = built(exp)
    assert load_init(exp, backbone, head)[-1].endswith("(3 classes × 16-d)")
    assert torch.equal(head.classifier.weight, ckpt["model"]["head.classifier.weight"])
    exp = experiment(tmp_path, "ft4", data="data4", training=f'init = "{tmp_path / "imported.pt"}"')
    assert "has 3 classes × 16-d, this run 4 × 16-d" in load_init(exp, *built(exp))[-1]
