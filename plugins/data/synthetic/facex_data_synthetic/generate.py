"""The synthetic data set on disk: layout, training list, LFW pairs, and the workers that draw it.

The layout uses the real formats, so the same commands work on real data:

* ``train/images/id_00017/0003.jpg`` and ``train/train_list.txt`` (FaceX-Zoo list: ``path label``);
* ``test/images/Synth_Person_0042/Synth_Person_0042_0001.jpg``, ``test/pairs.txt`` (LFW ``pairs.txt``)
  and ``test/image_list.txt``;
* ``synthetic.json`` recording the config, the counts and the format version.

Image ``k`` of an identity is always the same bytes, however many worker processes draw it and in
whatever order; a folder is finished where an interrupted run left it.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import attrs
import numpy as np

from facex_core import (ConfigError, FolderLock, LfwPair, lfw_image, parallel_map, read_lfw_pairs,
                        remove_temporaries, settings_diff, write_atomic, write_image, write_lfw_pairs)

from .identity import TAG_PAIRS, random_stream, sample_identity, sample_nuisance
from .plugin import TEST_IDENTITY_OFFSET, SyntheticConfig
from .render import render_face

#: Version of the on-disk layout and of the drawing code; bump it when either changes the bytes.
FORMAT_VERSION = 1
#: File name of the metadata record written in the output folder.
META_NAME = "synthetic.json"
_CHUNK = 32  # images of one identity per worker job


class SyntheticDataError(ConfigError):
    """The synthetic data config is infeasible, or the output folder holds data made differently."""


def train_identity_name(index: int) -> str:
    """Folder name of training identity ``index`` (``id_00017``)."""
    return f"id_{index:05d}"


def lfw_identity_name(index: int) -> str:
    """LFW-style name of test identity ``index`` (``Synth_Person_0042``)."""
    return f"Synth_Person_{index:04d}"


def _train_rel(ident: int, k: int) -> str:
    return f"{train_identity_name(ident)}/{k:04d}.jpg"


def _test_rel(ident: int, k: int) -> str:
    return lfw_image(lfw_identity_name(ident), k + 1)


def _counts(cfg: SyntheticConfig) -> dict[str, int]:
    return {"train_identities": cfg.train_identities,
            "train_images": cfg.train_identities * cfg.images_per_train_identity,
            "test_identities": cfg.test_identities,
            "test_images": cfg.test_identities * cfg.test_images_per_identity,
            "pairs": cfg.folds * (cfg.pairs_per_fold // 2) * 2}


def _fold_blocks(cfg: SyntheticConfig) -> list[np.ndarray]:
    return np.array_split(np.arange(cfg.test_identities), cfg.folds)


def check_config(cfg: SyntheticConfig) -> None:
    """Raise :class:`SyntheticDataError` if ``cfg`` cannot produce the requested pairs."""
    problems = []
    if cfg.pairs_per_fold % 2:
        problems.append(f"pairs_per_fold must be even (half positive, half negative), got {cfg.pairs_per_fold}")
    if cfg.test_identities < 2 * cfg.folds:
        problems.append(f"test_identities ({cfg.test_identities}) must be at least 2 × folds ({cfg.folds}) "
                        "so every fold has two identities for negative pairs")
    else:
        half = cfg.pairs_per_fold // 2
        m = cfg.test_images_per_identity
        smallest = min(len(b) for b in _fold_blocks(cfg))
        pos = smallest * m * (m - 1) // 2
        neg = smallest * (smallest - 1) // 2 * m * m
        if pos < half:
            problems.append(f"a fold of {smallest} test identities × {m} images has only {pos} distinct positive "
                            f"pairs, fewer than pairs_per_fold/2 = {half}; add test identities or images")
        if neg < half:
            problems.append(f"a fold of {smallest} test identities has only {neg} distinct negative pairs, "
                            f"fewer than pairs_per_fold/2 = {half}")
    if problems:
        raise SyntheticDataError("synthetic data config is infeasible: " + "; ".join(problems))


def _pick(rng: np.random.Generator, total: int, want: int, decode: Callable[[int], tuple]) -> list[tuple]:
    """``want`` distinct items out of ``total`` enumerable ones, chosen by ``rng``."""
    if want * 3 >= total:
        return [decode(int(i)) for i in sorted(rng.choice(total, size=want, replace=False))]
    seen: set[int] = set()
    order: list[int] = []
    while len(order) < want:
        i = int(rng.integers(total))
        if i not in seen:
            seen.add(i)
            order.append(i)
    return [decode(i) for i in sorted(order)]


def make_pairs(cfg: SyntheticConfig) -> list[list[tuple]]:
    """Per fold: ``pairs_per_fold/2`` positives ``(ident, i, j)`` then as many negatives ``(id1, i, id2, j)``.

    Identities are test indices (0-based), image numbers 1-based as in LFW. Each identity lies in one fold.
    """
    check_config(cfg)
    half = cfg.pairs_per_fold // 2
    m = cfg.test_images_per_identity
    within = [(i, j) for i in range(1, m + 1) for j in range(i + 1, m + 1)]
    folds = []
    for f, block in enumerate(_fold_blocks(cfg)):
        rng = random_stream(cfg.seed, TAG_PAIRS, f)
        ids = [int(v) for v in block]
        n = len(ids)
        pos = _pick(rng, n * len(within), half,
                    lambda q: (ids[q // len(within)], *within[q % len(within)]))
        id_pairs = n * (n - 1) // 2

        def neg(q: int) -> tuple:
            pair, img = divmod(q, m * m)
            # unrank pair index into (a < b)
            a = 0
            while pair >= n - 1 - a:
                pair -= n - 1 - a
                a += 1
            b = a + 1 + pair
            return (ids[a], img // m + 1, ids[b], img % m + 1)

        negs = _pick(rng, id_pairs * m * m, half, neg)
        folds.append(pos + negs)
    return folds


def lfw_pairs(cfg: SyntheticConfig) -> tuple[tuple[int, int], list[LfwPair]]:
    """``(header, pairs)`` of the test set's ``pairs.txt`` (:func:`make_pairs` under LFW names)."""
    pairs = []
    for fold in make_pairs(cfg):
        for p in fold:
            if len(p) == 3:
                name = lfw_identity_name(p[0])
                pairs.append(LfwPair(name, p[1], name, p[2], True))
            else:
                pairs.append(LfwPair(lfw_identity_name(p[0]), p[1], lfw_identity_name(p[2]), p[3], False))
    return (cfg.folds, cfg.pairs_per_fold // 2), pairs


def _render_chunk(job: tuple[int, int, int, int, list[tuple[int, str]]]) -> int:
    """Render one identity's missing images: ``(seed, size, quality, global identity, [(image, path)])``."""
    seed, size, quality, ident, items = job
    ip = sample_identity(seed, ident)
    for k, path in items:
        write_image(path, render_face(ip, sample_nuisance(seed, ident, k), size), quality)
    return len(items)


def _present(folder: Path) -> set[str]:
    """Names of the files in ``folder`` (none when it does not exist)."""
    try:
        return {e.name for e in os.scandir(folder) if e.is_file()}
    except FileNotFoundError:
        return set()


def _plan(cfg: SyntheticConfig, out: Path) -> tuple[list[tuple], int, int]:
    """Jobs for the images that are missing, the number already present, and the total."""
    jobs = []
    present = total = 0
    splits = [(out / "train" / "images", cfg.train_identities, cfg.images_per_train_identity, 0, _train_rel),
              (out / "test" / "images", cfg.test_identities, cfg.test_images_per_identity, TEST_IDENTITY_OFFSET,
               _test_rel)]
    for root, n_ids, per_id, offset, rel in splits:
        for i in range(n_ids):
            folder = root / rel(i, 0).split("/")[0]
            have = _present(folder)
            missing = []
            for k in range(per_id):
                name = rel(i, k).split("/")[1]
                total += 1
                if name in have:
                    present += 1
                else:
                    missing.append((k, str(folder / name)))
            for s in range(0, len(missing), _CHUNK):
                jobs.append((cfg.seed, cfg.image_size, cfg.jpeg_quality, offset + i, missing[s:s + _CHUNK]))
    return jobs, present, total


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless ``path`` holds it already (a resumed run keeps the lists' times)."""
    try:
        if path.read_bytes() == text.encode("utf-8"):
            return
    except FileNotFoundError:
        pass
    write_atomic(path, text)


def _write_pairs_if_changed(path: Path, header: tuple[int, int], pairs: list[LfwPair]) -> None:
    try:
        if read_lfw_pairs(path) == (header, pairs):
            return
    except (OSError, ValueError):  # missing, or not a pairs file this generator wrote: rewrite it
        pass
    write_lfw_pairs(path, pairs, header)


def _write_lists(cfg: SyntheticConfig, paths: dict[str, Any]) -> None:
    _write_if_changed(Path(paths["train_list"]), "".join(
        f"{_train_rel(i, k)} {i}\n" for i in range(cfg.train_identities) for k in range(cfg.images_per_train_identity)))
    _write_if_changed(Path(paths["image_list"]), "".join(
        f"{_test_rel(i, k)}\n" for i in range(cfg.test_identities) for k in range(cfg.test_images_per_identity)))
    _write_pairs_if_changed(Path(paths["pairs_file"]), *lfw_pairs(cfg))


def _result(cfg: SyntheticConfig, out: Path, rendered: int) -> dict[str, Any]:
    return {"out_dir": str(out), "meta": str(out / META_NAME),
            "train_root": str(out / "train" / "images"), "train_list": str(out / "train" / "train_list.txt"),
            "test_root": str(out / "test" / "images"), "pairs_file": str(out / "test" / "pairs.txt"),
            "image_list": str(out / "test" / "image_list.txt"),
            "num_classes": cfg.train_identities, **_counts(cfg), "rendered": rendered}


def generator_settings(cfg: SyntheticConfig) -> dict[str, Any]:
    """The fields of :class:`SyntheticConfig` in ``cfg`` (a subclass may add others, e.g. ``output``)."""
    return {f.name: getattr(cfg, f.name) for f in attrs.fields(SyntheticConfig)}


def _meta(cfg: SyntheticConfig) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "generator": "facex_data_synthetic",
            "note": "synthetic cartoon faces for smoke tests; not a benchmark",
            "config": generator_settings(cfg), "counts": _counts(cfg)}


def _recorded(meta_path: Path) -> dict[str, Any] | None:
    """Format version and config a folder's record holds, flat (``None`` when it is unreadable)."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("config", {}), dict):
        return None
    return {"format_version": meta.get("format_version"), **meta.get("config", {})}


def _clear(out: Path) -> None:
    for sub in ("train", "test"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    (out / META_NAME).unlink(missing_ok=True)


def _check_folder(cfg: SyntheticConfig, out: Path, overwrite: bool) -> None:
    """Refuse a folder made with another config or not by this generator, or clear it (``overwrite``)."""
    fix = "choose another folder, or replace it with overwrite=True (`data synth --overwrite`)"
    meta_path = out / META_NAME
    if meta_path.exists():
        have = _recorded(meta_path)
        why = (f"{META_NAME} is unreadable" if have is None
               else settings_diff(have, {"format_version": FORMAT_VERSION, **generator_settings(cfg)}))
        if not why:
            return
        if not overwrite:
            raise SyntheticDataError(f"{out}: holds synthetic data made with a different config ({why}); {fix}")
    else:
        stray = [sub for sub in ("train", "test") if (out / sub).exists() and any((out / sub).iterdir())]
        if not stray:
            return
        if not overwrite:
            raise SyntheticDataError(f"{out}: {' and '.join(stray)}/ exist but {META_NAME} does not, so this "
                                     f"generator did not make this folder; {fix}")
    _clear(out)


def generate(cfg: SyntheticConfig, out_dir: str | os.PathLike, workers: int = 0, *,
             overwrite: bool = False, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write the synthetic train and test sets under ``out_dir`` and return their paths and counts.

    Safe to call again: a complete folder made with the same config is returned untouched, and an
    interrupted one is finished (only missing images are drawn). A folder made with a different config
    raises :class:`SyntheticDataError` unless ``overwrite`` is true, which deletes its ``train/``,
    ``test/`` and ``synthetic.json`` first. ``workers > 0`` draws in that many spawned processes (call
    from under ``if __name__ == "__main__":`` in scripts); the bytes are the same as with ``workers=0``.
    ``progress(done, total)`` is called as images are finished, counting those already on disk.
    The folder is locked while it is written (:class:`facex_core.FolderLock`).
    """
    if not isinstance(cfg, SyntheticConfig):
        raise TypeError(f"cfg must be a SyntheticConfig, got {type(cfg).__name__}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0, got {workers!r}")
    check_config(cfg)
    out = Path(out_dir)
    with FolderLock(out, "synthetic data set"):
        _check_folder(cfg, out, overwrite)
        meta_path = out / META_NAME
        if not meta_path.exists():
            write_atomic(meta_path, json.dumps(_meta(cfg), indent=2) + "\n")
        remove_temporaries(out)  # what a killed run left behind
        jobs, present, total = _plan(cfg, out)
        paths = _result(cfg, out, 0)
        lists = [Path(paths[key]) for key in ("train_list", "image_list", "pairs_file")]
        if not jobs and all(p.exists() for p in lists):
            if progress is not None:
                progress(total, total)
            return paths

        for sub in ("train", "test"):
            (out / sub / "images").mkdir(parents=True, exist_ok=True)
        for job in jobs:
            Path(job[4][0][1]).parent.mkdir(parents=True, exist_ok=True)
        done = present
        if progress is not None:
            progress(done, total)
        for n in parallel_map(_render_chunk, jobs, workers, ordered=False):
            done += n
            if progress is not None:
                progress(done, total)
        _write_lists(cfg, paths)
    return _result(cfg, out, total - present)
