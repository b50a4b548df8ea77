"""``facex-core mask sheet OUT.png PATH...``: a before/after grid, original | masked with each template.

Rows are the given photos as they are, then an aligned 112×112 crop of each (its largest face, through
the SDK pipeline: mediapipe → mediapipe_mesh → arcface_5pt unless ``--sdk-config``/``--sdk-set`` say
otherwise), or the crops of ``--crops DIR``. Each row's seed hashes ``--seed`` with its label.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from .commands import add_adder_options

#: The SDK stages that align the photos unless ``--sdk-config`` is given.
ALIGN_SETS = ("detector.name=mediapipe", "landmarker.name=mediapipe_mesh")


def setup_sheet(p: argparse.ArgumentParser) -> None:
    """Arguments of ``mask sheet``."""
    p.add_argument("out", metavar="OUT.png")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="photos or folders (e.g. ../shared/data/photos); required unless --crops is given")
    p.add_argument("--template", action="append", help="template column (repeatable; default: all)")
    p.add_argument("--max-templates", type=int, default=8, help="at most this many template columns by default")
    p.add_argument("--crops", metavar="DIR", help="aligned crops to add as rows instead of aligning the photos")
    p.add_argument("--no-aligned", action="store_true", help="raw photos only, no aligned-crop rows")
    p.add_argument("--sdk-config", help="SDK TOML for aligning (default: mediapipe -> mediapipe_mesh -> arcface_5pt)")
    p.add_argument("--sdk-set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override an SDK key for aligning, e.g. --sdk-set detector.name=retinaface_mnet025")
    p.add_argument("--seed", type=int, default=0, help="augmentation seed (hashed with each row's name)")
    p.add_argument("--cell", type=int, default=192, help="cell size in pixels")
    add_adder_options(p)
    p.set_defaults(func=run_sheet)


def _fit(image: Any, cell: int) -> Any:
    """``image`` scaled to fit a cell×cell square, centred on grey."""
    import cv2
    import numpy as np

    canvas = np.full((cell, cell, 3), 96, np.uint8)
    if image is None:
        return canvas
    h, w = image.shape[:2]
    s = cell / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(image, (nw, nh), interpolation=interp)
    y, x = (cell - nh) // 2, (cell - nw) // 2
    canvas[y:y + nh, x:x + nw] = small
    return canvas


def compose_sheet(rows: Sequence[tuple[str, Sequence[Any]]], headers: Sequence[str], cell: int = 192) -> Any:
    """A grid image: one row per (label, cells) with the label under its first cell; ``None`` cells grey."""
    import cv2
    import numpy as np

    pad, head = 4, 24
    cols = len(headers)
    sheet = np.full((head + len(rows) * (cell + head + pad), cols * (cell + pad) + pad, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for c, text in enumerate(headers):
        cv2.putText(sheet, text[:28], (pad + c * (cell + pad), 17), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for r, (label, cells) in enumerate(rows):
        y = head + r * (cell + head + pad)
        for c, img in enumerate(cells):
            x = pad + c * (cell + pad)
            sheet[y:y + cell, x:x + cell] = _fit(img, cell)
            if img is None:
                cv2.putText(sheet, "no mask", (x + 8, y + cell // 2), font, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(sheet, label[:60], (pad, y + cell + 16), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def _aligned_crops(args: argparse.Namespace, photos: Sequence[Path]) -> list[tuple[str, Any]]:
    """One aligned crop per photo (its largest face) through the SDK pipeline, or the crops in ``--crops``."""
    from facex_core import ImageLoadError, load_image, pick_face
    from facex_sdk import SdkSetup, collect_files, process

    if args.crops:
        files, _ = collect_files([args.crops])
        out = []
        for f in files:
            try:
                out.append((f"{f.name} (crop)", load_image(f)))
            except ImageLoadError as exc:
                print(f"facex-core mask sheet: skipped {exc}", file=sys.stderr)
        return out
    defaults = [] if args.sdk_config else list(ALIGN_SETS)
    setup = SdkSetup(args.sdk_config, [*defaults, "aligner.name=arcface_5pt", *args.sdk_set])
    crops = []
    for it in process(setup, list(photos), align=True, command="align"):
        best = None if it.error else pick_face(it.faces, "largest", need="crop")
        if best is None:
            print(f"facex-core mask sheet: no aligned crop of {it.path}: {it.error or 'no face found'}",
                  file=sys.stderr)
            continue
        crops.append((f"{it.path.name} (aligned 112)", best.crop))
    return crops


def run_sheet(args: argparse.Namespace) -> int:
    """Write the sheet; exit 1 when no cell could be masked."""
    from facex_core import ConfigError, ImageLoadError, load_image, write_image
    from facex_sdk import collect_files

    from .adders import build_adder
    from .source import image_seed

    if not args.paths and not args.crops:
        raise ConfigError("mask sheet: no photos given: pass image files or folders as PATH "
                          "(e.g. ../shared/data/photos), or aligned crops with --crops DIR")
    adder = build_adder(args.config, args.set)
    templates = args.template or list(adder.templates())[: args.max_templates]
    unknown = [t for t in templates if t not in adder.templates()]
    if unknown:
        raise ConfigError(f"unknown template(s) {unknown}; the adder has: {', '.join(adder.templates())}")
    photos = collect_files(args.paths)[0] if args.paths else []
    rows_in: list[tuple[str, Any, bool]] = []
    for p in photos:
        try:
            rows_in.append((p.name, load_image(p), False))
        except ImageLoadError as exc:
            print(f"facex-core mask sheet: skipped {exc}", file=sys.stderr)
    if not args.no_aligned:
        try:
            rows_in += [(label, crop, True) for label, crop in _aligned_crops(args, photos)]
        except (ConfigError, ImportError, OSError) as exc:
            print(f"facex-core mask sheet: no aligned rows ({exc}); pass --crops DIR or --sdk-set ...",
                  file=sys.stderr)
    rows = []
    n_masked = 0
    for label, img, aligned in rows_in:
        seed = image_seed(args.seed, label)
        results = adder.add_masks([img] * len(templates), [seed] * len(templates), aligned=aligned,
                                  templates=list(templates))
        cells = [img] + [r.image for r in results]
        n_masked += sum(r.image is not None for r in results)
        why = next((r.error for r in results if r.error), None)
        rows.append((label + (f"  [{why}]" if why else ""), cells))
    sheet = compose_sheet(rows, ["original", *templates], cell=args.cell)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_image(out, sheet)
    print(f"wrote {out}: {len(rows)} rows (original | {' | '.join(templates)}), "
          f"{n_masked}/{len(rows) * len(templates)} cells masked")
    if n_masked == 0:
        print("facex-core mask sheet: no cell could be masked (no face found in any row; see the labels)",
              file=sys.stderr)
        return 1
    return 0
