"""``facex-core sdk calibrate``: the decision threshold for a target false accept rate, from labelled pairs.

Every image of the pairs runs through the configured pipeline; the threshold is the lowest accepted
score of the ROC operating point with the highest TAR whose FAR is at most the target, and the
calibration record (:mod:`facex_sdk.calibration_record`) goes beside the recognizer's model file
(or ``--out``), where the other sdk commands find it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from facex_core import ConfigError

from .calibration_record import CALIBRATION_FORMAT, calibration_beside, installed_package_dir
from .config import STAGES, add_config_arguments
from .embeddings import unit
from .inputs import process
from .pipeline import SdkSetup

PAIRS_FORMATS = ("auto", "simple", "lfw")


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def read_pairs(path: str, root: str | None = None, fmt: str = "auto") -> list[tuple[Path, Path, int]]:
    """Labelled image pairs ``(a, b, 1 same / 0 different)`` from a pairs file.

    ``simple``: one pair a line, ``image_a image_b same`` with ``same`` 1 or 0, paths relative to
    ``root`` (default: the file's folder; quote paths with spaces; ``#`` starts a comment).
    ``lfw``: LFW's ``pairs.txt``, read by :func:`facex_core.read_lfw_pairs` (an optional header line,
    then ``name i j`` or ``name1 i name2 j``) for ``root/name/name_000i.jpg``. ``auto`` picks ``lfw``
    when the first line is all numbers or its second field is a number.
    """
    import shlex

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the pairs file ({exc.strerror or exc})") from None
    base = Path(root) if root else file.parent
    lines = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        try:
            tokens = shlex.split(raw, comments=True)
        except ValueError as exc:
            raise ConfigError(f"{file}:{lineno}: {exc}") from None
        if tokens:
            lines.append((lineno, tokens))
    if not lines:
        raise ConfigError(f"{file}: no pairs")
    if fmt == "auto":
        first = lines[0][1]
        fmt = "lfw" if all(map(_is_int, first)) or (len(first) in (3, 4) and _is_int(first[1])) else "simple"
    if fmt == "lfw":
        return _lfw_pairs(file, base)
    pairs = []
    for lineno, tokens in lines:
        if len(tokens) == 3 and tokens[2] in ("0", "1"):
            pairs.append((base / tokens[0], base / tokens[1], int(tokens[2])))
        else:
            raise ConfigError(f"{file}:{lineno}: expected 'image_a image_b 1|0' (simple format), "
                              f"got {' '.join(tokens)!r}")
    return pairs


def _lfw_pairs(file: Path, base: Path) -> list[tuple[Path, Path, int]]:
    from facex_core import PairsFormatError, read_lfw_pairs

    try:
        _, pairs = read_lfw_pairs(file)
    except (PairsFormatError, FileNotFoundError) as exc:
        raise ConfigError(f"{exc} (read as LFW pairs; --format simple for 'image_a image_b 1|0' lines)") from None
    return [(base / p.first, base / p.second, int(p.same)) for p in pairs]


def threshold_at_far(scores: Any, labels: Any, far: float) -> dict[str, float]:
    """The decision threshold for ``similarity >= threshold`` with the highest TAR whose FAR is at most
    ``far`` on these pairs, and the FAR, TAR and EER there.

    The threshold is the lowest accepted score of that ROC operating point (``facex_core.roc_curve``),
    so the rule accepts exactly the pairs the point counts; a target below one negative pair gives
    a threshold just above the highest score (nothing accepted).
    """
    import numpy as np

    from facex_core import eer, roc_curve, tar_at_far

    fpr, tpr, thresholds = roc_curve(scores, labels)
    i = int(np.searchsorted(fpr, far, side="right") - 1)
    # ROC point i accepts `score > thresholds[i]`; for i >= 1 that is `score >= thresholds[i - 1]`
    threshold = float(np.nextafter(thresholds[0], np.inf)) if i == 0 else float(thresholds[i - 1])
    tar = tar_at_far(scores, labels, [far])[float(far)]
    return {"threshold": threshold, "far": float(fpr[i]), "tar": float(tar), "eer": float(eer(scores, labels))}


def setup_calibrate(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk calibrate``."""
    p.description = ("Embeds every image of the pairs with the configured pipeline, picks the threshold with "
                     "the highest TAR at FAR <= --far, and writes a record beside the recognizer's model file "
                     "(or --out) that the sdk commands use.")
    p.add_argument("pairs", metavar="PAIRS", help="'image_a image_b 1|0' lines, or LFW's pairs.txt")
    add_config_arguments(p)
    p.add_argument("--far", type=float, default=1e-3, help="target false accept rate (default 1e-3)")
    p.add_argument("--root", help="image folder the pairs' paths are relative to (default: the file's folder)")
    p.add_argument("--format", choices=PAIRS_FORMATS, default="auto")
    p.add_argument("--out", metavar="FILE.json", help="write the record here (then set [sdk] calibration)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    """Embed the pairs' images, pick the threshold at ``--far``, write and print the record."""
    import datetime

    import numpy as np

    from facex_core import __version__, pair_scores, pick_face, write_atomic

    if not 0 <= args.far <= 1:
        raise ConfigError(f"--far: expected a false accept rate in [0, 1], got {args.far}")
    setup = SdkSetup(args.config, args.set)
    pairs = read_pairs(args.pairs, args.root, args.format)
    files = sorted({p for a, b, _ in pairs for p in (a, b)})
    setup.stage("recognizer", "calibrate")
    features: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for it in process(setup, files, embed=True, command="calibrate", progress=True):
        face = None if it.error else pick_face(it.faces, setup.settings.face)
        if face is None:
            problems[str(it.path)] = it.error or f"{it.path}: no face found"
            continue
        features[str(it.path)] = unit(face.embedding)
    for message in problems.values():
        print(json.dumps({"error": message}), file=sys.stderr)
    kept = [(str(a), str(b), y) for a, b, y in pairs if str(a) in features and str(b) in features]
    labels = np.array([y for _, _, y in kept], dtype=np.int64)
    n_pos, n_neg = int(labels.sum()), int(len(labels) - labels.sum())
    if n_pos == 0 or n_neg == 0:
        raise ConfigError(f"{args.pairs}: {n_pos} same-person and {n_neg} different-person pairs usable "
                          f"({len(pairs) - len(kept)} dropped for images without a face): both are needed")
    scores = pair_scores(features, [a for a, _, _ in kept], [b for _, b, _ in kept])
    result = threshold_at_far(scores, labels, args.far)
    if args.far * n_neg < 1:
        print(f"facex-core sdk calibrate: warning: {n_neg} different-person pairs cannot measure FAR "
              f"{args.far:g} (needs at least {int(np.ceil(1 / args.far)) if args.far > 0 else 'infinitely many'}; "
              f"ten times that for a stable threshold)", file=sys.stderr)
    record = {"format": CALIBRATION_FORMAT, "version": 1, **result, "far_target": args.far,
              "pairs": {"file": str(Path(args.pairs).resolve()), "positive": n_pos, "negative": n_neg,
                        "dropped": len(pairs) - len(kept), "images_without_face": len(problems)},
              "recognizer": setup.recognizer_identity(), "stages": setup.identity(),
              "pipeline": {**{k: setup.tables.get(k, {"name": setup.names.get(k)}) for k in STAGES},
                           "face": setup.settings.face, "scene": setup.settings.scene},
              "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "facex_core": __version__}
    target = _calibration_target(setup, args.out)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, json.dumps(record, indent=2, default=str) + "\n")
    if args.json:
        print(json.dumps({**result, "far_target": args.far, "positive": n_pos, "negative": n_neg,
                          "dropped": len(pairs) - len(kept), "record": str(target)}))
    else:
        print(f"threshold {result['threshold']:.6f}  (cosine similarity; same person when >=)")
        print(f"at target FAR {args.far:g}: FAR {result['far']:.6f}, TAR {result['tar']:.6f}; "
              f"EER {result['eer']:.6f}")
        print(f"pairs: {n_pos} same-person, {n_neg} different-person, {len(pairs) - len(kept)} dropped "
              f"({len(problems)} images without a usable face)")
        print(f"record: {target}")
    if args.out and calibration_beside(setup.stage("recognizer")) != target:
        print(f"facex-core sdk calibrate: use it with [sdk] calibration = {json.dumps(str(target))} "
              f"(or --set sdk.calibration={target})", file=sys.stderr)
    return 0


def _calibration_target(setup: SdkSetup, out: str | None) -> Path:
    """``--out``, else beside the recognizer's model file when that folder is the user's and writable."""
    if out:
        return Path(out)
    beside = calibration_beside(setup.stage("recognizer"))
    if beside is not None and not installed_package_dir(beside.parent) and os.access(beside.parent, os.W_OK) \
            and (not beside.exists() or os.access(beside, os.W_OK)):
        return beside
    why = "has no model file" if beside is None else f"keeps its model in {beside.parent} (not writable or " \
                                                      "an installed package)"
    raise ConfigError(f"recognizer {setup.names['recognizer']} {why}: give --out FILE, then use it with "
                      f"[sdk] calibration = \"FILE\"")
