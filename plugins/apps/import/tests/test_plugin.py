"""Registration: the importers are components of kind ``weights_importer``, the ``import`` command
group finds them through the registry, a third-party distribution adds its own, and nothing heavy
is imported at discovery."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import support
import zoo_cnn
from facex_core import registry
from facex_core.testing import FakeSite, assert_light_module, reset_registry
from facex_import.pipeline import import_weights
from facex_import.plugin import FACEXZOO

DOUBLES = Path(__file__).resolve().parent / "doubles"
INSIGHTFACE = ["mbf", "mbf_large", "r100", "r18", "r200", "r34", "r50", "vit_b", "vit_b_dp005_mask_005",
               "vit_l_dp005_mask_005", "vit_s", "vit_s_dp005_mask_0", "vit_t", "vit_t_dp005_mask0"]


@pytest.mark.parametrize("module", ["facex_import", "facex_import.plugin", "facex_import.commands",
                                    "facex_import.facexzoo.configs", "facex_import.insightface.configs"])
def test_registration_and_command_setup_stay_light(module):
    assert_light_module(module)


def test_every_facexzoo_type_and_insightface_model_has_an_importer():
    rows = [e for e in registry().list("weights_importer") if e.distribution == "facex-import"]
    assert all(e.status == "ok" for e in rows)
    names = {e.name for e in rows}
    assert {f"facexzoo.{t.lower()}" for t in FACEXZOO} | {f"insightface.{n}" for n in INSIGHTFACE} == names
    assert len(FACEXZOO) == 12


def test_strict_listing_imports_every_importer(cli):
    result = cli("list", "--kind", "weights_importer", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "26 entries" in result.stdout and "0 not ok" in result.stdout


def test_a_third_party_importer_is_found_by_the_import_command(tmp_path, monkeypatch):
    site = FakeSite(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site.root))
    monkeypatch.syspath_prepend(str(DOUBLES))
    site.add_dist("facex-import-mynet", "1.0", {"mynet": "fakeplug_importer"})
    reset_registry()
    try:
        torch.manual_seed(0)
        net = support.randomize(zoo_cnn.MobileFaceNet(32), seed=3,
                                inputs=support.facexzoo_input(support.synthetic_crops(4, seed=5)))
        torch.save({"net": {f"trunk.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "mynet.pt")
        # the CLI's `--backbone mynet` resolves the same way
        result = import_weights("facexzoo", tmp_path / "mynet.pt", "MyNet", tmp_path / "out.pt",
                                overrides=["backbone.feat_dim=32"])
        assert result.importer == "facex-import-mynet:facexzoo.mynet"
        crops = support.crops(2)
        with torch.no_grad():
            reference = net(support.facexzoo_input(crops))
        assert float(support.cosines(support.facex_embeddings(tmp_path / "out.pt", crops), reference).min()) > 0.9999
    finally:
        reset_registry()


def test_an_importer_two_distributions_provide_asks_for_the_distribution(tmp_path, monkeypatch):
    from facex_core import ConfigError
    from facex_import.pipeline import resolve_importer

    site = FakeSite(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site.root))
    monkeypatch.syspath_prepend(str(DOUBLES))
    site.add_dist("facex-import-mynet", "1.0", {"mynet": "fakeplug_importer"})
    (site.root / "fakeplug_importer_fork.py").write_text("from fakeplug_importer import facex_components\n")
    site.add_dist("facex-import-mynet-fork", "1.0", {"mynet": "fakeplug_importer_fork"})
    reset_registry()
    try:
        with pytest.raises(ConfigError, match="several distributions .*facex-import-mynet-fork:facexzoo.mynet|"
                                              "several distributions .*facex-import-mynet:facexzoo.mynet"):
            resolve_importer("facexzoo", "MyNet")
        assert resolve_importer("facexzoo", "facex-import-mynet-fork:MyNet") == \
            "facex-import-mynet-fork:facexzoo.mynet"
        with pytest.raises(ConfigError, match="no facexzoo importer for it"):
            resolve_importer("facexzoo", "NoNet")
    finally:
        reset_registry()
