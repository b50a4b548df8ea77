"""Registration: every LFW-family protocol is declared, light to discover and validates its config."""
from __future__ import annotations

import subprocess
import sys

import attrs
import pytest

from facex_core.testing import installed
from facex_protocol_lfw import plugin

NAMES = ["lfw", "cplfw", "calfw", "agedb30", "rfw_african", "rfw_asian", "rfw_caucasian",
         "rfw_indian", "cfp_fp", "cfp_ff"]


def test_every_protocol_is_declared_once_with_its_own_config():
    components = plugin.facex_components()
    assert [c.name for c in components] == NAMES
    assert all(c.kind == "protocol" and c.factory.startswith("facex_protocol_lfw.protocol:")
               for c in components)
    assert len({c.config for c in components}) == len(NAMES)
    assert set(NAMES) <= set(installed("protocol", distribution="facex-protocol-lfw"))


@pytest.mark.parametrize("component", plugin.facex_components(), ids=lambda c: c.name)
def test_threshold_rule_accepts_the_three_rules_only(component):
    required = {f.name: "x" for f in attrs.fields(component.config) if f.default is attrs.NOTHING}
    for rule in ("exact", "facexzoo", "insightface"):
        assert component.config(**required, threshold_rule=rule).threshold_rule == rule
    with pytest.raises(ValueError, match="threshold_rule must be one of exact, facexzoo, insightface"):
        component.config(**required, threshold_rule="median")


def test_discovery_imports_no_heavy_module():
    # Discovery imports plugin.py only; it must not pull in numpy, torch, the parsers or the protocol.
    code = ("import sys, facex_protocol_lfw.plugin; "
            "heavy = [m for m in ('numpy', 'torch', 'facex_protocol_lfw.protocol', "
            "'facex_protocol_lfw.matfile') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
