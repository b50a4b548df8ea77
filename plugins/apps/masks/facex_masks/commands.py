"""``facex-core mask list``, ``mask template`` and ``data mask`` (``mask sheet``: :mod:`facex_masks.sheet`).

Every command takes the mask adder from an optional TOML file with a ``[mask_adder]`` table
(``--config``) plus ``--set mask_adder.KEY=VALUE`` overrides (:mod:`facex_masks.adders`). Light to
import (no numpy, cv2 or torch): the work is imported when a command runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .adders import DEFAULT_ADDER
from .plugin import MODES


def add_adder_options(p: argparse.ArgumentParser) -> None:
    """``--config`` and ``--set``: the mask adder of every mask command."""
    p.add_argument("--config", help=f"TOML with a [mask_adder] table (name = \"{DEFAULT_ADDER}\" plus its config keys)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help=f"override a mask adder key (repeatable), e.g. --set mask_adder.name={DEFAULT_ADDER}")


# -- data mask -----------------------------------------------------------------------------------
def setup_data_mask(p: argparse.ArgumentParser) -> None:
    """Arguments of ``data mask``."""
    p.description = (
        "Writes the masked images under DST at the same relative paths (RecordIO: a new "
        "train.rec), plus mask_templates.txt ('relpath template', FaceX-Zoo's "
        "facescrub2template_name.txt), mask_log.jsonl (seed, status, augmentation draws, "
        "errors) and mask_summary.json. Faces the adder cannot find are kept unmasked "
        "(status no_face); unreadable images are skipped and logged. Rerun the same "
        "command to resume an interrupted run; output is identical for any --workers. "
        "DST is locked while the run lasts.")
    p.add_argument("src", help="image folder (identity sub-folders), image root with --train-list, a "
                               "train list file, or a folder with train.rec/.idx/property")
    p.add_argument("dst", help="output folder (e.g. <image_root>/masked_facescrub_crop for MegaFace-Mask)")
    p.add_argument("--train-list", help="FaceX-Zoo list with paths relative to SRC")
    p.add_argument("--aligned", action=argparse.BooleanOptionalAction, default=None,
                   help="inputs are aligned 112x112-style crops (default: yes for train lists and .rec, "
                        "no for image folders: pass --aligned for a crop folder such as FaceScrub crops)")
    p.add_argument("--template", help="draw this template on every image (default: drawn per image)")
    p.add_argument("--mode", choices=MODES, default="masked",
                   help="'masked': masked copies only; 'both': originals plus masked copies as extra "
                        "samples of the same identity (MS-Celeb-1M-v1c-Mask recipe)")
    p.add_argument("--seed", type=int, default=0, help="base seed; each image's seed hashes it with its path")
    p.add_argument("--workers", type=int, default=2, help="worker processes (0 = in this process)")
    p.add_argument("--batch-size", type=int, default=16, help="images per add_masks call")
    p.add_argument("--out-list", help="where the train list goes for train-list sources (default DST/train_list.txt)")
    add_adder_options(p)
    p.set_defaults(func=run_data_mask, interrupt_hint="rerun the same command to resume")


def run_data_mask(args: argparse.Namespace) -> int:
    """Mask the data set; print the summary as JSON."""
    from .adders import build_adder
    from .dataset import mask_dataset

    adder = build_adder(args.config, args.set)
    info = mask_dataset(args.src, args.dst, adder, train_list=args.train_list, aligned=args.aligned,
                        template=args.template, mode=args.mode, seed=args.seed, workers=args.workers,
                        batch_size=args.batch_size, out_list=args.out_list)
    print(json.dumps(info, indent=2, default=str))
    if info.get("already_done"):
        print(f"{args.dst}: already complete (same settings); nothing to do", file=sys.stderr)
    return 0


# -- mask list -----------------------------------------------------------------------------------
def setup_list(p: argparse.ArgumentParser) -> None:
    """Arguments of ``mask list``."""
    add_adder_options(p)
    p.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    """Print the adder's templates, one a line."""
    from .adders import build_adder

    adder = build_adder(args.config, args.set)
    names = list(adder.templates())
    for name in names:
        print(name)
    print(f"{len(names)} templates from mask_adder {type(adder).__name__}", file=sys.stderr)
    return 0


# -- mask template -------------------------------------------------------------------------------
def setup_template(p: argparse.ArgumentParser) -> None:
    """Arguments of ``mask template``."""
    p.add_argument("photo", metavar="FROM_PHOTO", help="photo of a person wearing the mask")
    p.add_argument("matte", metavar="MATTE", help="mask matte: white where the mask is (or its alpha channel)")
    p.add_argument("out", metavar="OUT", help="template to write (.png)")
    add_adder_options(p)
    p.set_defaults(func=run_template)


def read_matte(path: str) -> Any:
    """A matte file as one H×W uint8 channel: its alpha channel when it has one, else its grey levels."""
    import cv2
    import numpy as np

    from facex_core import ImageLoadError

    raw = np.fromfile(path, dtype=np.uint8) if Path(path).is_file() else np.zeros(0, np.uint8)
    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if img is None:
        raise ImageLoadError(f"{path}: matte is not a readable image")
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(img[:, :, 3])
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def run_template(args: argparse.Namespace) -> int:
    """Lift a UV template from a photo and its matte; say how to use it."""
    import numpy as np

    from facex_core import ImageLoadError, load_image, write_image

    from .adders import build_adder

    adder = build_adder(args.config, args.set)
    try:
        photo, matte = load_image(args.photo), read_matte(args.matte)
    except ImageLoadError as exc:
        print(f"facex-core mask template: {exc}", file=sys.stderr)
        return 1
    texture = np.asarray(adder.lift_template(photo, matte))
    if texture.dtype != np.uint8 or texture.ndim != 3 or texture.shape[2] != 4:
        print(f"facex-core mask template: the adder returned {texture.dtype} {texture.shape}, "
              "expected an H×W×4 BGRA uint8 texture", file=sys.stderr)
        return 1
    out = Path(args.out).with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_image(out, texture)
    covered = float((texture[:, :, 3] > 0).mean())
    print(f"wrote {out}: {texture.shape[1]}x{texture.shape[0]} BGRA UV-space template "
          f"({100 * covered:.1f}% of the texture covered by the mask)")
    print(f"use it: --set 'mask_adder.extra_templates=[\"{out}\"]' (template name '{out.stem}'), "
          f"e.g. facex-core mask sheet sheet.png --template {out.stem} --set ..., or "
          f"facex-core data mask SRC DST --set ...")
    return 0
