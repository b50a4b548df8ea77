"""`facex-core new-plugin` writes distributions that install, show up in `list` and pass their tests."""
import json
import subprocess
import sys

import pytest

KINDS = {"backbone": "tinynet", "head": "normface", "protocol": "pairacc", "training_mode": "plainloop",
         "distill_loss": "cosmatch", "data_format": "npystack", "command": "countimg"}


def pip(*args):
    return subprocess.run([sys.executable, "-m", "pip", *args, "-q", "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=600)


def test_skeletons_install_list_and_pass_their_own_tests(tmp_path, cli):
    dirs = []
    for kind, name in KINDS.items():
        target = tmp_path / name
        res = cli("new-plugin", kind, name, str(target))
        assert res.returncode == 0, res.stderr
        dirs.append(target)
    dists = ["facex-backbone-tinynet", "facex-head-normface", "facex-protocol-pairacc", "facex-mode-plainloop",
             "facex-distill-cosmatch", "facex-data-npystack", "facex-command-countimg"]
    res = pip("install", "--no-deps", "--no-build-isolation", *[a for d in dirs for a in ("-e", str(d))])
    assert res.returncode == 0, res.stderr
    try:
        listed = json.loads(cli("list", "--json").stdout)
        got = {(r["kind"], r["name"]): r for r in listed}
        for (kind, name), dist in zip(KINDS.items(), dists):
            assert got[(kind, name)]["status"] == "ok"
            assert got[(kind, name)]["distribution"] == dist
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                "--import-mode=importlib", *[str(d / "tests") for d in dirs]],
                               capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert "8 passed" in tests.stdout  # the head skeleton also checks sharding
    finally:
        pip("uninstall", "-y", *dists)


def test_new_plugin_refuses_bad_names_and_non_empty_dirs(tmp_path, cli):
    assert cli("new-plugin", "head", "Bad-Name", str(tmp_path / "x")).returncode != 0
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    res = cli("new-plugin", "head", "ok", str(tmp_path / "full"))
    assert res.returncode != 0 and "not empty" in res.stderr
