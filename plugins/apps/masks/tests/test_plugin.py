"""Registration of facex-masks: its commands, makers and packaged config appear, and what loads them stays light."""
from __future__ import annotations

import pytest

import facex_core
from facex_core.testing import assert_light_module, installed


@pytest.mark.parametrize("module", ["facex_masks", "facex_masks.plugin", "facex_masks.adders",
                                    "facex_masks.commands", "facex_masks.sheet"])
def test_registration_and_command_setup_modules_import_no_torch_or_cv2(module):
    assert_light_module(module)


def test_makers_and_the_masked_demo_config_are_registered():
    assert {"masked_copy", "one_side_masked_pairs"} <= set(installed("dataset", distribution="facex-masks"))
    path = facex_core.registry().packaged_config("demo_masked.toml")
    assert path is not None and path.endswith("facex_masks/demo_masked.toml")


def test_mask_group_and_data_mask_are_on_the_command_line(cli):
    group = cli("mask", "--help")
    assert group.returncode == 0, group.stderr
    assert all(name in group.stdout for name in ("list", "template", "sheet"))
    sheet = cli("mask", "sheet", "--help")
    assert sheet.returncode == 0 and "--crops" in sheet.stdout and "--sdk-set" in sheet.stdout
    data = cli("data", "mask", "--help")
    assert data.returncode == 0, data.stderr
    assert all(opt in data.stdout for opt in ("--mode", "--aligned", "--workers", "--config", "--set"))
    assert "Rerun the same command to resume" in " ".join(data.stdout.split())
