"""Galleries: exact search against a brute-force computation, add/remove against a fresh build, the
file, the approximate FAISS indexes, and probes from another pipeline refused."""
from __future__ import annotations

import numpy as np
import pytest

from facex_core import ConfigError, DataError
from facex_sdk import Gallery, GalleryConfig
from facex_sdk.search import exact_top_k

try:
    import faiss

    HAVE_FAISS = True
except ImportError:
    HAVE_FAISS = False
needs_faiss = pytest.mark.skipif(not HAVE_FAISS, reason="faiss-cpu not installed (pip install 'facex-sdk[faiss]')")


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(matrix: np.ndarray, probes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every score in float64, sorted: the computation the blocked search must reproduce."""
    scores = np.asarray(probes, np.float64) @ np.asarray(matrix, np.float64).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), order


@pytest.mark.parametrize("block_mb", [1, 64])
def test_blocked_exact_search_equals_brute_force(block_mb):
    matrix = unit_rows(5000, 32, 0).astype(np.float32)
    probes = unit_rows(300, 32, 1).astype(np.float32)  # 300 probes x 1 MiB: blocks of 1024 rows
    scores, rows = exact_top_k(matrix, probes, 7, block_mb=block_mb)
    want_scores, want_rows = brute_force(matrix, probes, 7)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_top_k_larger_than_the_gallery_returns_every_identity_in_order():
    matrix = unit_rows(4, 8, 2).astype(np.float32)
    scores, rows = exact_top_k(matrix, matrix[:1], 10)
    assert rows.shape == (1, 4) and rows[0, 0] == 0 and np.all(np.diff(scores[0]) <= 0)


def test_identity_is_the_normalised_mean_of_its_faces():
    faces = unit_rows(6, 16, 3)
    gallery = Gallery.from_embeddings(["a", "b", "a", "c", "b", "a"], faces * [[1], [2], [3], [1], [1], [5]])
    assert gallery.names == ["a", "b", "c"] and gallery.counts.tolist() == [3, 2, 1]
    mean_a = faces[[0, 2, 5]].sum(0)  # the faces are normalised first, so their scale does not count
    np.testing.assert_allclose(gallery.embeddings[0], mean_a / np.linalg.norm(mean_a), atol=1e-6)
    (best, *_), = gallery.search(faces[3], top=3, threshold=0.99)
    assert (best.identity, best.match, best.images) == ("c", True, 1) and best.score == pytest.approx(1, abs=1e-6)


def _same(a: Gallery, b: Gallery) -> None:
    order = [b.names.index(n) for n in a.names]
    assert sorted(a.names) == sorted(b.names)
    np.testing.assert_allclose(a.embeddings, b.embeddings[order], atol=1e-6)
    np.testing.assert_array_equal(a.counts, b.counts[order])
    np.testing.assert_allclose(a.norms, b.norms[order], rtol=1e-6)  # means are stored as float32


def _faces(seed: int = 4) -> tuple[list[str], np.ndarray]:
    names = [f"id{k % 50}" for k in range(200)]
    return names, unit_rows(200, 24, seed)


@pytest.mark.parametrize("index", ["exact", *(pytest.param(kind, marks=needs_faiss) for kind in ("pq", "ivf", "hnsw"))])
def test_add_and_remove_round_trip_equal_a_fresh_build(index):
    names, faces = _faces()
    config = GalleryConfig(index=index, nprobe=64)
    fresh = Gallery.from_embeddings(names, faces, config=config)
    grown = Gallery.from_embeddings(names[:120], faces[:120], config=config)
    grown.index()
    grown.add(names[120:], faces[120:])  # new identities and more faces of known ones
    _same(grown, fresh)
    without = Gallery.from_embeddings([n for n in names if n not in ("id3", "id7")],
                                      faces[[n not in ("id3", "id7") for n in names]], config=config)
    fresh.index()
    fresh.remove(["id3", "id7"])
    _same(fresh, without)
    # the index follows: every identity is its own best match, the removed ones are never found
    for gallery in (grown, fresh):
        scores, rows = gallery.top_k(gallery.embeddings, 1)
        assert rows[:, 0].tolist() == list(range(len(gallery)))
    assert not {"id3", "id7"} & {m.identity for line in fresh.search(faces, top=5) for m in line}


def test_remove_refuses_unknown_names_and_changes_nothing():
    names, faces = _faces()
    gallery = Gallery.from_embeddings(names, faces)
    with pytest.raises(ConfigError, match="not in the gallery: 'nobody'"):
        gallery.remove(["id1", "nobody"])
    assert len(gallery) == 50


@pytest.mark.parametrize("index", ["exact", *(pytest.param(kind, marks=needs_faiss) for kind in ("pq", "ivf", "hnsw"))])
def test_saved_gallery_loads_with_the_same_identities_index_and_pipeline(tmp_path, index):
    names, faces = _faces()
    pipeline = {"recognizer": {"name": "r", "config": {"gain": 1.0}, "model_sha256": None}}
    gallery = Gallery.from_embeddings(names, faces, config=GalleryConfig(index=index), pipeline=pipeline)
    gallery.remove(["id0"])
    path = tmp_path / "g.npz"
    gallery.save(path)
    loaded = Gallery.load(path)
    _same(loaded, gallery)
    assert loaded.config == gallery.config and loaded.pipeline == pipeline and loaded.next_id == gallery.next_id
    probes = unit_rows(20, 24, 9)
    assert loaded.search(probes, 3) == gallery.search(probes, 3)
    loaded.add(["new"], probes[:1])  # ids keep growing after a reload
    assert loaded.search(probes[0], 1)[0][0].identity == "new"


def test_a_failed_or_empty_save_never_replaces_a_good_file(tmp_path):
    names, faces = _faces()
    path = tmp_path / "g.npz"
    gallery = Gallery.from_embeddings(names[:3], faces[:3])
    gallery.save(path)
    good = path.read_bytes()
    gallery.remove(gallery.names)
    with pytest.raises(ConfigError, match="no identity left"):
        gallery.save(path)
    assert path.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["g.npz"]


def test_a_file_that_is_not_a_gallery_is_a_data_error_naming_it(tmp_path):
    other = tmp_path / "emb.npz"
    np.savez(other, embeddings=np.zeros((1, 4)))
    with pytest.raises(DataError, match="emb.npz: not a FaceX gallery"):
        Gallery.load(other)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DataError, match="text.npz"):
        Gallery.load(tmp_path / "text.npz")
    with pytest.raises(ConfigError, match="gallery file not found"):
        Gallery.load(tmp_path / "missing.npz")


def test_probes_of_another_pipeline_or_dimension_are_refused():
    pipeline = {"aligner": {"name": "arcface_5pt", "config": {"size": 112}},
                "recognizer": {"name": "facex", "config": {"flip": "sum"}, "model_sha256": "abc"}}
    gallery = Gallery.from_embeddings(["a"], unit_rows(1, 8, 0), pipeline=pipeline)
    gallery.check_pipeline(pipeline)
    other = {**pipeline, "recognizer": {**pipeline["recognizer"], "model_sha256": "def"}}
    with pytest.raises(ConfigError, match="different pipelines: the gallery was made for another model file"):
        gallery.check_pipeline(other)
    chip = {**pipeline, "aligner": {"name": "dlib_chip", "config": {"size": 150}}}
    with pytest.raises(ConfigError, match="made with aligner 'arcface_5pt', not 'dlib_chip'"):
        gallery.check_pipeline(chip)
    with pytest.raises(DataError, match="16-d embeddings for a gallery of 8-d ones"):
        gallery.search(unit_rows(1, 16, 0))
    with pytest.raises(DataError, match="non-finite"):
        gallery.add(["b"], np.full((1, 8), np.nan))


@needs_faiss
def test_ivf_scanning_every_list_is_exact_search():
    names = [f"id{k}" for k in range(2000)]
    gallery = Gallery.from_embeddings(names, unit_rows(2000, 32, 5), config=GalleryConfig(index="ivf", nlist=16,
                                                                                              nprobe=16))
    probes = unit_rows(50, 32, 6)
    approx_scores, approx_rows = gallery.top_k(probes, 5)
    exact_scores, exact_rows = brute_force(gallery.embeddings, probes, 5)
    np.testing.assert_array_equal(approx_rows, exact_rows)
    np.testing.assert_allclose(approx_scores, exact_scores, atol=1e-5)


@needs_faiss
def test_pq_codes_reranked_exactly_find_the_exact_best_identity_of_random_data():
    faces = unit_rows(5000, 128, 10)
    gallery = Gallery.from_embeddings([f"id{k}" for k in range(5000)], faces, config=GalleryConfig(index="pq"))
    targets = np.arange(0, 5000, 25)
    noisy = faces[targets] + 1.3 * unit_rows(len(targets), 128, 11)  # cosine about 0.6 with the target
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    scores, rows = gallery.top_k(noisy, 3)
    exact_scores, exact_rows = brute_force(gallery.embeddings, noisy, 3)
    assert np.mean(rows[:, 0] == exact_rows[:, 0]) >= 0.99
    hit = rows[:, 0] == exact_rows[:, 0]  # where found, the scores are the exact ones
    np.testing.assert_allclose(scores[hit, 0], exact_scores[hit, 0], atol=1e-5)
    assert faiss.downcast_index(gallery.index().index.index).M == 16  # 128 / 8 sub-quantizers


@needs_faiss
def test_hnsw_finds_the_identity_of_noisy_probes_and_tuning_is_search_time_only():
    faces = unit_rows(3000, 64, 7)
    gallery = Gallery.from_embeddings([f"id{k}" for k in range(3000)], faces, config=GalleryConfig(index="hnsw"))
    targets = np.arange(0, 3000, 30)
    noisy = faces[targets] + 0.6 * unit_rows(len(targets), 64, 8)
    _, rows = gallery.top_k(noisy, 1)
    _, exact_rows = gallery.top_k(noisy, 1, exact=True)
    assert np.mean(rows[:, 0] == exact_rows[:, 0]) >= 0.99
    gallery.tune(ef_search=16)
    assert gallery.config.ef_search == 16
    with pytest.raises(ConfigError, match="gallery.hnsw_m: fixed when the gallery is built"):
        gallery.tune(hnsw_m=8)


@needs_faiss
def test_hnsw_is_rebuilt_once_removed_identities_outnumber_the_rest():
    names, faces = _faces()
    gallery = Gallery.from_embeddings(names, faces, config=GalleryConfig(index="hnsw"))
    first = gallery.index()
    gallery.remove([f"id{k}" for k in range(20)])
    assert gallery.index() is first and len(first) == 30  # 20 dead, 30 live: kept
    gallery.remove([f"id{k}" for k in range(20, 32)])
    rebuilt = gallery.index()
    assert rebuilt is not first and len(rebuilt) == 18 and len(rebuilt.dead) == 0
