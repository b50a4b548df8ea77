"""`facex-core sdk gallery build|add|remove|info` and `sdk search GALLERY PROBE...`, with the SDK test
doubles (an identity is a colour; its embedding the colour's direction)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facex_core import main, write_image
from facex_sdk import Gallery
from fakeplug_sdk import PIPELINE, square_image  # tests/doubles (put on sys.path by conftest.py)

COLOURS = {"red": [(30, 40, 200), (40, 45, 190)], "green": [(40, 190, 60)], "blue": [(210, 60, 40), (200, 70, 50)]}


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


@pytest.fixture
def people(doubles, tmp_path):
    """identity/*.png folders, plus a blank image and a text file that give no face."""
    root = tmp_path / "people"
    for name, colours in COLOURS.items():
        (root / name).mkdir(parents=True)
        for k, colour in enumerate(colours):
            write_image(root / name / f"{k}.png", square_image(colour))
    write_image(root / "blue" / "blank.png", np.zeros((50, 50, 3), np.uint8))
    (root / "green" / "notes.txt").write_text("not an image")
    return root


def _info(path, capsys) -> dict:
    capsys.readouterr()
    assert main(["sdk", "gallery", "info", str(path), "--names", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_build_from_folders_holds_the_mean_colour_of_each_identity(people, tmp_path, capsys):
    out = tmp_path / "people.npz"
    assert main(["sdk", "gallery", "build", str(people), "--out", str(out), *PIPELINE]) == 0
    captured = capsys.readouterr()
    assert "3 identities, 5 faces" in captured.out and "blank.png" in captured.err
    info = _info(out, capsys)
    assert info["names"] == {"blue": 2, "green": 1, "red": 2} and info["config"]["index"] == "exact"
    assert info["pipeline"] == {"detector": "test_square", "landmarker": "none", "aligner": "arcface_5pt",
                                "recognizer": "test_colour"}
    gallery = Gallery.load(out)
    want = unit(unit(COLOURS["red"][0]) + unit(COLOURS["red"][1]))  # independent: mean of unit colours
    np.testing.assert_allclose(gallery.embeddings[gallery.names.index("red")], want, atol=3e-3)


def test_search_a_gallery_file_or_folder_for_several_probes(people, tmp_path, capsys):
    out = tmp_path / "people.npz"
    assert main(["sdk", "gallery", "build", str(people), "--out", str(out), *PIPELINE]) == 0
    write_image(tmp_path / "p1.png", square_image((35, 42, 195)))
    write_image(tmp_path / "p2.png", square_image((45, 185, 65)))
    probes = [str(tmp_path / "p1.png"), str(tmp_path / "p2.png"), str(tmp_path / "missing.png")]
    capsys.readouterr()
    runs = {}
    for gallery in (out, people):
        assert main(["sdk", "search", str(gallery), *probes, *PIPELINE, "--set=sdk.threshold=0.99", "--json"]) == 0
        runs[gallery] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert runs[out] == runs[people]
    first, second, missing = runs[out]
    means = {name: unit(sum(unit(c) for c in colours)) for name, colours in COLOURS.items()}
    want = sorted(means, key=lambda name: -float(unit((35, 42, 195)) @ means[name]))  # independent ranking
    assert [r["identity"] for r in first["results"]] == want and want[0] == "red" and first["results"][0]["match"]
    assert [r["score"] for r in first["results"]] == pytest.approx(
        [float(unit((35, 42, 195)) @ means[name]) for name in want], abs=3e-3)
    assert second["results"][0]["identity"] == "green" and "missing.png" in missing["error"]
    assert main(["sdk", "search", str(out), probes[0], *PIPELINE, "--top", "1"]) == 0
    text = capsys.readouterr().out
    assert "against 3 identities (5 faces)" in text and text.count("\n") == 2


def test_add_and_remove_change_only_the_named_identities(people, tmp_path, capsys):
    out = tmp_path / "people.npz"
    assert main(["sdk", "gallery", "build", str(people), "--out", str(out), *PIPELINE]) == 0
    before = Gallery.load(out)
    more = tmp_path / "more"
    (more / "grey").mkdir(parents=True)
    (more / "red").mkdir(parents=True)
    write_image(more / "grey" / "1.png", square_image((120, 120, 120)))
    write_image(more / "red" / "2.png", square_image((20, 30, 210)))
    assert main(["sdk", "gallery", "add", str(out), str(more), *PIPELINE]) == 0
    after = Gallery.load(out)
    assert _info(out, capsys)["names"] == {"blue": 2, "green": 1, "red": 3, "grey": 1}
    for name in ("blue", "green"):  # untouched, bit for bit
        assert np.array_equal(after.embeddings[after.names.index(name)], before.embeddings[before.names.index(name)])
    red = unit(unit(COLOURS["red"][0]) + unit(COLOURS["red"][1]) + unit((20, 30, 210)))
    np.testing.assert_allclose(after.embeddings[after.names.index("red")], red, atol=3e-3)

    assert main(["sdk", "gallery", "remove", str(out), "grey", "green"]) == 0
    assert _info(out, capsys)["names"] == {"blue": 2, "red": 3}
    good = out.read_bytes()
    assert main(["sdk", "gallery", "remove", str(out), "nobody"]) == 2
    assert main(["sdk", "gallery", "remove", str(out), "blue", "red"]) == 2  # would leave it empty
    err = capsys.readouterr().err
    assert "not in the gallery: 'nobody'" in err and "no identity left" in err
    assert out.read_bytes() == good


def test_an_embed_file_seeds_the_same_gallery_as_the_images(people, tmp_path, capsys):
    emb = tmp_path / "emb.npz"
    assert main(["sdk", "embed", str(people), "--out", str(emb), *PIPELINE]) == 0
    assert main(["sdk", "gallery", "build", str(emb), "--out", str(tmp_path / "a.npz"), *PIPELINE]) == 0
    assert main(["sdk", "gallery", "build", str(people), "--out", str(tmp_path / "b.npz"), *PIPELINE]) == 0
    a, b = Gallery.load(tmp_path / "a.npz"), Gallery.load(tmp_path / "b.npz")
    assert a.names == b.names and a.counts.tolist() == b.counts.tolist()
    np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-6)
    # an embed file of another pipeline is refused
    assert main(["sdk", "gallery", "build", str(emb), "--out", str(tmp_path / "c.npz"), *PIPELINE,
                 "--set=recognizer.gain=2.0"]) == 2
    assert "made with other recognizer settings (gain)" in capsys.readouterr().err


def test_probes_and_additions_of_another_pipeline_are_refused(people, tmp_path, capsys):
    out = tmp_path / "people.npz"
    assert main(["sdk", "gallery", "build", str(people), "--out", str(out), *PIPELINE]) == 0
    good = out.read_bytes()
    other = [*PIPELINE, "--set=aligner.size=128"]
    assert main(["sdk", "search", str(out), str(people / "red" / "0.png"), *other]) == 2
    assert main(["sdk", "gallery", "add", str(out), str(people), *other]) == 2
    err = capsys.readouterr().err
    assert err.count("different pipelines: the gallery was made with other aligner settings (size)") == 2
    assert out.read_bytes() == good


def test_an_approximate_index_is_stored_and_tuned_at_search_time(doubles, tmp_path, capsys):
    pytest.importorskip("faiss", reason="faiss-cpu not installed (pip install 'facex-sdk[faiss]')")
    root = tmp_path / "many"
    colours = np.random.default_rng(0).integers(20, 255, (40, 3))
    for k, colour in enumerate(colours):  # 40 identities: enough to train 4-bit PQ codes
        (root / f"id{k}").mkdir(parents=True)
        write_image(root / f"id{k}" / "0.png", square_image(tuple(int(c) for c in colour)))
    out = tmp_path / "pq.npz"
    assert main(["sdk", "gallery", "build", str(root), "--out", str(out), *PIPELINE, "--set=gallery.index=pq"]) == 0
    info = _info(out, capsys)
    assert info["config"]["index"] == "pq" and info["index_size"] == 40
    probe = str(root / "id7" / "0.png")
    assert main(["sdk", "search", str(out), probe, *PIPELINE, "--set=gallery.rerank=8", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)["results"][0]
    assert best["identity"] == "id7" and best["score"] == pytest.approx(1.0, abs=1e-5)  # re-scored exactly
    assert main(["sdk", "search", str(out), probe, *PIPELINE, "--set=gallery.index=ivf"]) == 2
    assert "gallery.index: fixed when the gallery is built" in capsys.readouterr().err
