"""Masking one batch of a data set's images, in this process or in a worker of the pool.

A result is a dict per image: its index, key, seed, status (``masked``, ``no_face``, ``failed``,
``unreadable``), template, augmentation draws, error, and the encoded masked image under ``data``.
"""
from __future__ import annotations

import sys
from pathlib import PurePosixPath
from typing import Any, Sequence

import numpy as np

from facex_core import encode_image

from .source import MaskSource, image_seed


def _call_adder(adder: Any, images: list[np.ndarray], seeds: list[int], job: dict[str, Any]) -> list[Any]:
    templates = [job["template"]] * len(images) if job["template"] else None
    out = list(adder.add_masks(images, seeds, aligned=job["aligned"], templates=templates))
    if len(out) != len(images):
        raise ValueError(f"add_masks returned {len(out)} results for {len(images)} images")
    return out


def mask_items(adder: Any, source: MaskSource, job: dict[str, Any], indices: Sequence[int]) -> list[dict[str, Any]]:
    """Mask images ``indices`` of ``source``: one result dict each (encoded bytes under ``data``).

    A batch the adder fails on is retried image by image, so an error lands on its own image.
    """
    results, images = [], []
    for i in indices:
        key = source.keys[i]
        r: dict[str, Any] = {"index": i, "path": key, "seed": image_seed(job["seed"], key), "status": "",
                             "template": None, "params": {}, "error": None, "data": None}
        img, err = source.read(i)
        if err is not None:
            r.update(status="unreadable", error=err)
        else:
            images.append(img)
        results.append(r)
    todo = [r for r in results if not r["status"]]
    if not todo:
        return results
    seeds = [r["seed"] for r in todo]
    try:
        outs: list[Any] = _call_adder(adder, images, seeds, job)
    except Exception:  # noqa: BLE001 - isolate the failing image
        outs = []
        for img, seed in zip(images, seeds):
            try:
                outs.extend(_call_adder(adder, [img], [seed], job))
            except Exception as exc:  # noqa: BLE001
                outs.append(exc)
    suffix = ".jpg" if source.reader is not None else None
    for r, img, out in zip(todo, images, outs):
        where = str(source.path(r["index"])) if source.reader is None else f"record {r['path']}"
        if isinstance(out, Exception):
            r.update(status="failed", error=f"{where}: mask adder failed ({type(out).__name__}: {out})")
        elif out.image is None:
            r.update(status="no_face", error=out.error or "no mask added")
        elif np.asarray(out.image).shape != img.shape or np.asarray(out.image).dtype != np.uint8:
            r.update(status="failed", error=f"{where}: mask adder returned an image of shape "
                                            f"{np.asarray(out.image).shape}, expected {img.shape} uint8")
        else:
            r.update(status="masked", template=out.template, params=dict(out.params or {}),
                     data=encode_image(out.image, suffix or PurePosixPath(r["path"]).suffix))
    return results


#: What :func:`mask_batch` works with: set by :func:`use_adder` in each worker (or in this process).
_STATE: dict[str, Any] = {}


def use_adder(adder: Any, adder_cls: type, adder_config: Any, source: MaskSource | None,
              job: dict[str, Any]) -> None:
    """Pool initializer: mask with ``adder``, or (in a spawned worker, where ``adder`` is ``None``) with
    a new ``adder_cls(adder_config)``."""
    if adder is None:
        adder = adder_cls(adder_config)
        if "torch" in sys.modules:  # the adder may have imported torch: the processes are the parallelism
            sys.modules["torch"].set_num_threads(1)
    _STATE.update(adder=adder, source=source, job=job)


def release_adder() -> None:
    """Forget the adder :func:`use_adder` set (this process's run is over: do not keep its models alive)."""
    _STATE.clear()


def mask_batch(indices: list[int]) -> list[dict[str, Any]]:
    """:func:`mask_items` with the adder, source and job :func:`use_adder` set (the pool's task)."""
    return mask_items(_STATE["adder"], _STATE["source"], _STATE["job"], indices)
