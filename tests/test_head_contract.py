"""The head author's contract under model parallelism: ``check_head_sharded`` passes a head that is
exact over sharded class centres and fails one whose gradients differ there (tests/doubles/fakeplug_shardheads.py)."""
import re
from pathlib import Path

import pytest
import torch

from facex_core.testing import check_head_sharded
from fakeplug_shardheads import build, builder


def test_a_head_using_target_cos_with_its_gradient_is_exact_when_sharded():
    head = build("TargetScaled")
    emb = torch.randn(4, 6, requires_grad=True)
    head(emb, torch.tensor([0, 3, 5, 10])).loss.backward()
    assert emb.grad.abs().sum() > 0
    check_head_sharded(builder("TargetScaled"))


@pytest.mark.parametrize("wrong", ["DetachedWhenSharded", "UnscaledReplicatedLoss"])
def test_check_head_sharded_catches_gradients_that_differ_under_sharding(wrong):
    with pytest.raises(AssertionError, match="gradient"):
        check_head_sharded(builder(wrong))


def test_the_worked_example_of_the_plugin_guide_is_exact_when_sharded():
    check_head_sharded(builder("AdaptiveCosFace"))
    head = build("AdaptiveCosFace")
    labels = torch.tensor([0, 3, 5, 10])
    out = head(head.weight.detach()[labels], labels)  # on their centres: every own-class cosine is 1
    assert set(out.extra_losses) == {"compactness"} and float(head.easiness) == pytest.approx(0.05)


def test_the_worked_example_in_the_guide_is_the_tested_one():
    root = Path(__file__).resolve().parents[1]
    block = re.search(r"```python\n(.*?class AdaptiveCosFace.*?)```", (root / "docs" / "plugins.md").read_text(), re.S)
    example = block.group(1)[block.group(1).index("class AdaptiveCosFace"):]
    assert example in (root / "tests" / "doubles" / "fakeplug_shardheads.py").read_text()
