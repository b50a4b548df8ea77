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
    with pytest.raises(RegistryError, match="installed: .*margin"):
        facex_core.registry().get("head", "no-such-head")


def test_cli_list_json_reports_broken_plugin_and_strict_fails(fake_site, cli):
    fake_site.add_dist("facex-head-importerr", "1.0", {"bad": "fakeplug_missing_module"})
    res = cli("list", "--json", pythonpath=[str(fake_site.root)])
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert {"kind", "name", "distribution", "version", "summary", "status", "error"} <= set(rows[0])
    bad = [r for r in rows if r["distribution"] == "facex-head-importerr"]
    assert bad and bad[0]["status"] == "broken"
    assert any(r["name"] == "margin" and r["status"] == "ok" for r in rows)
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
    assert {"tiny", "margin", "plain", "pairs", "squares"} <= {r["name"] for r in rows}


def test_misspelled_hook_is_listed_broken_and_fails_strict(fake_site):
    fake_site.add_dist("facex-head-typo", "1.0", {"typo": "fakeplug_typo"}, {"fakeplug_typo": GOOD.format(
        name="typo", summary="x").replace("def facex_components", "def facex_component")})
    reg = Registry(fake_site.entry_points())
    (entry,) = reg.list()
    assert entry.status == "broken" and "unknown hook 'facex_component'" in entry.error
    assert not reg.plugin_manager.get_plugins()  # unregistered: it receives no hooks


def test_plugin_contributing_nothing_is_listed_broken(fake_site):
    fake_site.add_dist("facex-head-empty", "1.0", {"empty": "fakeplug_empty"}, {"fakeplug_empty": """
        from facex_core import hookimpl
        @hookimpl
        def facex_components():
            return []
    """})
    fake_site.add_dist("facex-head-nomarker", "1.0", {"nomarker": "fakeplug_nomarker"}, {"fakeplug_nomarker": """
        def facex_components():  # @hookimpl forgotten
            return []
    """})
    status = {e.distribution: (e.status, e.error) for e in Registry(fake_site.entry_points()).list()}
    assert status["facex-head-empty"][0] == "broken" and "contributes no component" in status["facex-head-empty"][1]
    assert status["facex-head-nomarker"][0] == "broken" and "@facex_core.hookimpl" in status["facex-head-nomarker"][1]


def test_broken_plugin_receives_no_observer_hooks(fake_site):
    fake_site.add_dist("facex-head-half", "1.0", {"half": "fakeplug_half"}, {"fakeplug_half": """
        from facex_core import hookimpl
        CALLS = []
        @hookimpl
        def facex_train_event(event, state):
            CALLS.append(event)
        @hookimpl
        def facex_components():
            raise RuntimeError("half-installed")
    """})
    reg = Registry(fake_site.entry_points())
    reg.broadcast("facex_train_event", event="start", state={})
    import fakeplug_half

    assert fakeplug_half.CALLS == [] and reg.list()[0].status == "broken"


def test_observer_only_plugin_is_ok(fake_site):
    fake_site.add_dist("facex-logger", "1.0", {"log": "fakeplug_log"}, {"fakeplug_log": """
        from facex_core import hookimpl
        @hookimpl
        def facex_protocol_result(protocol, model, metrics):
            pass
    """})
    assert [e.status for e in Registry(fake_site.entry_points()).list()] == []  # nothing to list, nothing broken


COMMANDS = """
from facex_core import Command, hookimpl

@hookimpl
def facex_commands():
    return [Command(name="hello", help="say hello", setup="fakeplug_cmdimpl:setup"),
            Command(name="tools", help="a group"),
            Command(name="count", group="tools", help="count arguments", setup="fakeplug_cmdimpl:setup_count"),
            Command(name="greet", group="data", help="hello from the data group", setup="fakeplug_cmdimpl:setup")]
"""
COMMAND_IMPL = """
def setup(parser):
    parser.add_argument("who")
    parser.set_defaults(func=lambda args: print(f"hello {args.who}") or 0)

def setup_count(parser):
    parser.add_argument("items", nargs="*")
    parser.set_defaults(func=lambda args: print(len(args.items)) or 3)
"""


def test_plugin_commands_join_the_cli_at_top_level_in_core_groups_and_in_their_own(fake_site, cli):
    fake_site.add_dist("facex-command-hello", "1.0", {"hello": "fakeplug_cmd"},
                       {"fakeplug_cmd": COMMANDS, "fakeplug_cmdimpl": COMMAND_IMPL})
    path = [str(fake_site.root)]
    assert cli("hello", "world", pythonpath=path).stdout == "hello world\n"
    assert cli("data", "greet", "you", pythonpath=path).stdout == "hello you\n"
    res = cli("tools", "count", "a", "b", pythonpath=path)
    assert (res.returncode, res.stdout) == (3, "2\n")
    rows = json.loads(cli("list", "--kind", "command", "--json", pythonpath=path).stdout)
    assert {(r["name"], r["status"]) for r in rows} >= {("hello", "ok"), ("tools count", "ok"), ("data greet", "ok")}
    helptext = cli("--help", pythonpath=path).stdout
    assert "hello" in helptext and "tools" in helptext


def test_unknown_name_error_names_only_plugins_that_failed_not_command_plugins(fake_site):
    fake_site.add_dist("facex-command-hello", "1.0", {"hello": "fakeplug_cmd"},
                       {"fakeplug_cmd": COMMANDS, "fakeplug_cmdimpl": COMMAND_IMPL})
    reg = Registry(fake_site.entry_points())
    with pytest.raises(RegistryError) as err:
        reg.get("head", "nothere")
    assert "could not load" not in str(err.value) and "facex-command-hello" not in str(err.value)
    fake_site.add_dist("facex-head-importerr", "1.0", {"bad": "fakeplug_missing_module"})
    with pytest.raises(RegistryError) as err:
        Registry(fake_site.entry_points()).get("head", "nothere")
    assert "could not load: facex-head-importerr [broken" in str(err.value)
    assert "facex-command-hello" not in str(err.value)


def test_two_distributions_with_one_command_are_a_conflict_naming_both(fake_site, cli):
    for dist in ("facex-command-one", "facex-command-two"):
        mod = "fakeplug_" + dist.split("-")[-1]
        fake_site.add_dist(dist, "1.0", {"c": mod}, {mod: COMMANDS, "fakeplug_cmdimpl": COMMAND_IMPL}
                           if dist.endswith("one") else {mod: COMMANDS})
    res = cli("hello", "x", pythonpath=[str(fake_site.root)])
    assert res.returncode == 2 and "facex-command-two" in res.stderr and "Traceback" not in res.stderr


def test_help_never_imports_torch_and_offers_the_core_commands(tmp_path, cli):
    blocker = tmp_path / "block"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('torch is blocked in this test')\n")
    res = cli("--help", pythonpath=[str(blocker)])
    assert res.returncode == 0, res.stderr
    offered = {line.split()[0] for line in res.stdout.split("COMMAND\n", 1)[1].split("\n\n")[0].splitlines()
               if line.startswith("    ") and not line.startswith("     ")}
    assert {"train", "evaluate", "list", "data", "config", "new-plugin"} <= offered
    assert not {"sdk", "mask", "demo"} & offered  # the applications are plugins (tests/installed checks them)


def test_core_tests_see_only_the_doubles(cli):
    """The hermetic world of tests/conftest.py: every other installed plugin distribution is switched off,
    in this process and in the command line's subprocesses."""
    rows = facex_core.registry().list()
    assert rows and {e.distribution for e in rows} == {"facex-doubles"}
    doubles = {("backbone", "tiny"), ("head", "margin"), ("training_mode", "plain"), ("protocol", "pairs"),
               ("dataset", "squares"), ("data_format", "stack")}
    assert {(e.kind, e.name) for e in rows} == doubles
    res = cli("list", "--json")
    assert res.returncode == 0, res.stderr
    assert {(r["kind"], r["name"], r["distribution"]) for r in json.loads(res.stdout)} == \
        {(kind, name, "facex-doubles") for kind, name in doubles}
