"""Registration of facex-sdk: its commands appear in ``facex-core``, and what loads them stays light."""
from __future__ import annotations

import pytest

from facex_core.testing import assert_light_module

SDK_COMMANDS = ("detect", "align", "embed", "compare", "search", "annotate", "calibrate", "gallery")


@pytest.mark.parametrize("module", ["facex_sdk", "facex_sdk.plugin", "facex_sdk.commands", "facex_sdk.calibrate",
                                    "facex_sdk.align_data", "facex_sdk.gallery_commands"])
def test_registration_command_setup_and_library_modules_import_no_torch_or_cv2(module):
    assert_light_module(module)


def test_sdk_group_is_listed_and_holds_every_sdk_command(cli):
    top = cli("--help")
    assert top.returncode == 0 and "sdk" in top.stdout.split() and "run the SDK stages" in top.stdout
    group = cli("sdk", "--help")
    assert group.returncode == 0, group.stderr
    assert all(name in group.stdout for name in SDK_COMMANDS)
    detect = cli("sdk", "detect", "--help")
    assert detect.returncode == 0 and all(opt in detect.stdout for opt in ("--config", "--set", "--scene",
                                                                           "--annotate"))


def test_data_align_joins_the_data_group(cli):
    result = cli("data", "align", "--help")
    assert result.returncode == 0, result.stderr
    assert all(opt in result.stdout for opt in ("--workers", "--report", "--config", "--set", "--scene"))
    assert "FaceX-Zoo's step 1" in result.stdout


def test_gallery_commands_are_a_group_inside_sdk(cli):
    group = cli("sdk", "gallery", "--help")
    assert group.returncode == 0, group.stderr
    assert all(name in group.stdout for name in ("build", "add", "remove", "info"))
    build = cli("sdk", "gallery", "build", "--help")
    assert build.returncode == 0 and all(opt in build.stdout for opt in ("--out", "--config", "--set"))


def test_the_package_is_typed():
    from importlib import resources

    assert resources.files("facex_sdk").joinpath("py.typed").is_file()
