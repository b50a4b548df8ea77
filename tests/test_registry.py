import json

import pytest

import facex_core
from facex_core.plugin_api.registry import Registry, RegistryError


GOOD = """
from facex_core import Component, config, hookimpl, option

@config
class Cfg:
    size: int = option(3, doc="a size")

@hookimpl
def facex_components():
    return [Component(kind="head", name="{name}", summary="{summary}", config=Cfg,
                      factory="fakeplug_impl:make")]
"""


def test_working_plugin_is_listed_with_distribution_and_version(fake_site):
    fake_site.add_dist("facex-head-good", "2.3", {"good": "fakeplug_good"},
                       {"fakeplug_good": GOOD.format(name="good", summary="a good head")})
    reg = Registry(fake_site.entry_points())
    (entry,) = reg.list()
    assert (entry.kind, entry.name, entry.distribution, entry.version, entry.status) == \
        ("head", "good", "facex-head-good", "2.3", "ok")
    assert reg.get("head", "good") is entry


def test_broken_plugin_is_reported_and_others_keep_working(fake_site):
    fake_site.add_dist("facex-head-good", "1.0", {"good": "fakeplug_good"},
                       {"fakeplug_good": GOOD.format(name="good", summary="ok")})
    fake_site.add_dist("facex-head-importerr", "1.0", {"bad": "fakeplug_missing_module"})
    fake_site.add_dist("facex-head-hookerr", "1.0", {"bad2": "fakeplug_hookerr"}, {"fakeplug_hookerr": """
        from facex_core import hookimpl
        @hookimpl
        def facex_components():
            raise RuntimeError("boom in hook")
    """})
    reg = Registry(fake_site.entry_points())
    status = {e.distribution: (e.status, e.error) for e in reg.list()}
    assert status["facex-head-good"] == ("ok", "")
    assert status["facex-head-importerr"][0] == "broken"
    assert "ModuleNotFoundError" in status["facex-head-importerr"][1]
    assert status["facex-head-hookerr"] == ("broken", "RuntimeError: boom in hook")
    with pytest.raises(RegistryError, match="facex-head-hookerr"):
        reg.get("head", "bad2")


def test_name_clash_lists_both_and_bare_name_is_an_error_naming_both(fake_site):
    for dist in ("facex-head-one", "facex-head-two"):
        mod = "fakeplug_" + dist.split("-")[-1]
        fake_site.add_dist(dist, "1.0", {"arc": mod}, {mod: GOOD.format(name="arcx", summary=dist)})
    reg = Registry(fake_site.entry_points())
    rows = [e for e in reg.list() if e.name == "arcx"]
    assert {e.status for e in rows} == {"conflict"} and len(rows) == 2
    with pytest.raises(RegistryError) as err:
        reg.get("head", "arcx")
    assert "facex-head-one" in str(err.value) and "facex-head-two" in str(err.value)
    assert reg.get("head", "facex-head-two:arcx").summary == "facex-head-two"


def test_incompatible_core_requirement_is_listed_and_not_loaded(fake_site):
    fake_site.add_dist("facex-head-future", "1.0", {"fut": "fakeplug_future"},
                       {"fakeplug_future": "raise AssertionError('must not be imported')"},
                       requires=["facex-core>=99.0"])
    reg = Registry(fake_site.entry_points())
    (entry,) = reg.list()
    assert entry.status == "incompatible" and "facex-core>=99.0" in entry.error


def test_disable_env_skips_a_distribution(fake_site, monkeypatch):
    fake_site.add_dist("facex-head-good", "1.0", {"good": "fakeplug_good"},
                       {"fakeplug_good": GOOD.format(name="good", summary="ok")})
    monkeypatch.setenv("FACEX_DISABLE_PLUGINS", "facex-head-good")
    assert Registry(fake_site.entry_points()).list() == []


def test_unknown_name_error_lists_installed_names():
    with pytest.raises(RegistryError, match="installed: .*arcface"):
        facex_core.registry().get("head", "no-such-head")


def test_cli_list_json_reports_broken_plugin_and_strict_fails(fake_site, cli):
    fake_site.add_dist("facex-head-importerr", "1.0", {"bad": "fakeplug_missing_module"})
    res = cli("list", "--json", pythonpath=[str(fake_site.root)])
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert {"kind", "name", "distribution", "version", "summary", "status", "error"} <= set(rows[0])
    bad = [r for r in rows if r["distribution"] == "facex-head-importerr"]
    assert bad and bad[0]["status"] == "broken"
    assert any(r["name"] == "arcface" and r["status"] == "ok" for r in rows)
    assert cli("list", "--strict", pythonpath=[str(fake_site.root)]).returncode == 1
    assert cli("list", "--strict").returncode == 0


def test_list_and_discovery_never_import_torch(tmp_path, cli):
    blocker = tmp_path / "block"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('torch is blocked in this test')\n")
    res = cli("list", "--json", pythonpath=[str(blocker)])
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert rows and all(r["status"] == "ok" for r in rows), rows
    assert {"mobilefacenet", "arcface", "conventional", "lfw"} <= {r["name"] for r in rows}
