"""The installed plugins seen through the command line: discovery of every one of them stays
torch-free, each passes ``list --strict``, and the applications (``sdk``, ``mask``, ``demo``) come
from plugin distributions (moved here from tests/test_registry.py: they check the real plugins)."""
import json

import pytest

import facex_core

APPS = {"sdk", "mask", "demo"}  # facex-sdk, facex-masks, facex-data-synthetic


def blocked_torch(tmp_path):
    blocker = tmp_path / "block"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('torch is blocked in this test')\n")
    return blocker


def test_listing_every_installed_plugin_never_imports_torch(tmp_path, cli):
    res = cli("list", "--json", pythonpath=[str(blocked_torch(tmp_path))])
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert all(r["status"] == "ok" for r in rows), [r for r in rows if r["status"] != "ok"]
    assert {r["name"] for r in rows} == {e.name for e in facex_core.registry().list()}


def test_listing_every_installed_plugin_never_imports_numpy(tmp_path, cli):
    # numpy alone costs about a quarter of the 300 ms `list` may take: registration modules stay off it
    blocker = blocked_torch(tmp_path)
    (blocker / "numpy").mkdir()
    (blocker / "numpy" / "__init__.py").write_text("raise ImportError('numpy is blocked in this test')\n")
    res = cli("list", "--json", pythonpath=[str(blocker)])
    assert res.returncode == 0, res.stderr
    assert all(r["status"] == "ok" for r in json.loads(res.stdout)), res.stdout


def test_every_installed_plugin_passes_list_strict(cli):
    res = cli("list", "--strict")
    assert res.returncode == 0, res.stdout + res.stderr


def test_help_and_list_never_import_torch_and_apps_come_from_plugins(tmp_path, cli):
    missing = APPS - {e.name for e in facex_core.registry().commands() if e.status == "ok"}
    if missing:
        pytest.skip(f"no installed plugin provides the command(s) {', '.join(sorted(missing))}")
    blocker = blocked_torch(tmp_path)
    everything = cli("--help", pythonpath=[str(blocker)])
    assert everything.returncode == 0, everything.stderr
    from importlib import metadata

    dists = sorted({ep.dist.metadata["Name"] for ep in metadata.entry_points(group="facex.plugins")})
    core_only = cli("--help", pythonpath=[str(blocker)], env_extra={"FACEX_DISABLE_PLUGINS": ",".join(dists)})
    assert core_only.returncode == 0, core_only.stderr
    def offered(helptext):  # the commands listed under "COMMAND" in --help
        return {line.split()[0] for line in helptext.split("COMMAND\n", 1)[1].split("\n\n")[0].splitlines()
                if line.startswith("    ") and not line.startswith("     ")}
    assert {"train", "evaluate", "list", "data"} <= offered(core_only.stdout)
    assert not APPS & offered(core_only.stdout)
    assert APPS <= offered(everything.stdout)
    listed = cli("list", "--json", pythonpath=[str(blocker)], env_extra={"FACEX_DISABLE_PLUGINS": ",".join(dists)})
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
