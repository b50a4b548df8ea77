"""``facex-core mask list|template|sheet`` and ``facex-core data mask``: virtual masks from the command line.

The mask adder comes from an optional TOML file with a ``[mask_adder]`` table (``--config``) plus
``--set mask_adder.KEY=VALUE`` overrides, like the ``sdk`` commands' stage tables; the default adder
is ``fma3d`` (plugins/masks/fma3d). This module imports only the standard library at import time.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

DEFAULT_ADDER = "fma3d"
REPO_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def build_adder(config: str | None, overrides: Sequence[str]) -> Any:
    """The mask adder described by ``config`` (TOML with a ``[mask_adder]`` table) and ``--set`` overrides."""
    from ..plugin_api.build import build_from_table
    from ..configs.toml import apply_overrides, load_toml
    from ..errors import ConfigError, RegistryError

    data = apply_overrides(load_toml(config) if config else {}, list(overrides))
    source = " + ".join([*([config] if config else []), *(["--set"] if overrides else [])]) or "<defaults>"
    unknown = sorted(set(data) - {"mask_adder"})
    if unknown:
        raise ConfigError(f"{source}: unknown table(s) {unknown}; expected [mask_adder] "
                          "(e.g. --set mask_adder.name=fma3d)")
    table = dict(data.get("mask_adder", {}))
    table.setdefault("name", DEFAULT_ADDER)
    try:
        return build_from_table("mask_adder", table, path="mask_adder", source=source)[2]
    except (ConfigError, RegistryError) as exc:
        from ..plugin_api.registry import registry

        if "no mask_adder named" in str(exc) and DEFAULT_ADDER not in registry().names("mask_adder"):
            raise type(exc)(f"{exc}; the FMA-3D adder installs with "
                            "`pip install -e plugins/masks/fma3d`") from None
        raise
    except (ValueError, OSError, ImportError, TypeError) as exc:
        raise ConfigError(f"{source}: [mask_adder] {table['name']}: {exc}") from None


def _adder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML with a [mask_adder] table (name = \"fma3d\" plus its config keys)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a mask adder key (repeatable), e.g. --set mask_adder.name=fma3d")


# -- data mask -----------------------------------------------------------------------------------
def cmd_data_mask(args: argparse.Namespace) -> int:
    from .mask_data import mask_dataset

    adder = build_adder(args.config, args.set)
    info = mask_dataset(args.src, args.dst, adder, train_list=args.train_list, aligned=args.aligned,
                        template=args.template, mode=args.mode, seed=args.seed, workers=args.workers,
                        batch_size=args.batch_size, out_list=args.out_list)
    print(json.dumps(info, indent=2, default=str))
    if info.get("already_done"):
        print(f"{args.dst}: already complete (same settings); nothing to do", file=sys.stderr)
    return 0


def add_data_mask_command(dsub: Any) -> None:
    """Register ``data mask`` on the ``data`` sub-parser."""
    ds = dsub.add_parser(
        "mask", help="masked copy of an image folder, train list or .rec (FMA-3D; resumable)",
        description="Writes the masked images under DST at the same relative paths (RecordIO: a new "
                    "train.rec), plus mask_templates.txt ('relpath template', FaceX-Zoo's "
                    "facescrub2template_name.txt), mask_log.jsonl (seed, status, augmentation draws, "
                    "errors) and mask_summary.json. Faces the adder cannot find are kept unmasked "
                    "(status no_face); unreadable images are skipped and logged. Rerun the same "
                    "command to resume an interrupted run; output is identical for any --workers.")
    ds.add_argument("src", help="image folder (identity sub-folders), image root with --train-list, a "
                                "train list file, or a folder with train.rec/.idx/property")
    ds.add_argument("dst", help="output folder (e.g. <image_root>/masked_facescrub_crop for MegaFace-Mask)")
    ds.add_argument("--train-list", help="FaceX-Zoo list with paths relative to SRC")
    ds.add_argument("--aligned", action=argparse.BooleanOptionalAction, default=None,
                    help="inputs are aligned 112x112-style crops (default: yes for train lists and .rec, "
                         "no for image folders: pass --aligned for a crop folder such as FaceScrub crops)")
    ds.add_argument("--template", help="draw this template on every image (default: drawn per image)")
    ds.add_argument("--mode", choices=["masked", "both"], default="masked",
                    help="'masked': masked copies only; 'both': originals plus masked copies as extra "
                         "samples of the same identity (MS-Celeb-1M-v1c-Mask recipe)")
    ds.add_argument("--seed", type=int, default=0, help="base seed; each image's seed hashes it with its path")
    ds.add_argument("--workers", type=int, default=2, help="worker processes (0 = in this process)")
    ds.add_argument("--batch-size", type=int, default=16, help="images per add_masks call")
    ds.add_argument("--out-list", help="where the train list goes for train-list sources (default DST/train_list.txt)")
    _adder_options(ds)
    ds.set_defaults(func=cmd_data_mask)


# -- masked demo -------------------------------------------------------------------------------
def prepare_masked_demo(exp: Any, adder: Any, workers: int = 2) -> dict[str, Any]:
    """The masked demo's data, from the synthetic set under ``S = [synthetic].output``.

    ``S/train_masked``: the training list with each image followed by its masked copy (``data mask
    --mode both``, aligned); ``S/test_masked/images``: every test crop masked; ``S/test_one_masked``:
    the LFW pairs with the second image of each pair masked. The config must train on the first and
    evaluate the last (see demo_masked.toml); every step is skipped when already done.
    """
    from ..errors import ConfigError
    from .mask_data import mask_dataset, one_side_masked_pairs

    syn = Path(exp.synthetic_output)
    train = syn / "train_masked"
    one = syn / "test_one_masked"
    data = exp.data
    if data is None or Path(data.root) != train or Path(data.train_list) != train / "train_list.txt":
        raise ConfigError(f"{exp.source}: the masked demo writes its training set to {train}: set data.root = "
                          f"\"{train}\" and data.train_list = \"{train / 'train_list.txt'}\"")
    roots = [Path(getattr(r.config, "image_root", "")) for r in exp.protocols]
    if one / "images" not in roots:
        raise ConfigError(f"{exp.source}: the masked demo writes one-side-masked pairs to {one}: add an "
                          f"[[evaluation.protocols]] lfw table with image_root = \"{one / 'images'}\" "
                          f"and pairs_file = \"{one / 'pairs.txt'}\"")
    info = {"train": mask_dataset(syn / "train" / "images", train, adder, train_list=syn / "train" / "train_list.txt",
                                  mode="both", seed=exp.seed, workers=workers)}
    info["test"] = mask_dataset(syn / "test" / "images", syn / "test_masked" / "images", adder, aligned=True,
                                seed=exp.seed + 1, workers=workers)
    info["pairs"] = one_side_masked_pairs(syn / "test" / "pairs.txt", syn / "test" / "images",
                                          syn / "test_masked" / "images", one)
    for split in ("train", "test"):
        r = info[split]
        print(f"      {split}: {r['images']} images, {r['masked']} masked, {r['no_face']} without a face found, "
              f"{r['failed'] + r['unreadable']} errors -> {r['out']}")
    return info


# -- mask list / template / sheet -----------------------------------------------------------------
def cmd_mask_list(args: argparse.Namespace) -> int:
    adder = build_adder(args.config, args.set)
    names = list(adder.templates())
    for name in names:
        print(name)
    print(f"{len(names)} templates from mask_adder {type(adder).__name__}", file=sys.stderr)
    return 0


def _matte(path: str) -> Any:
    """A matte file as one H×W uint8 channel: its alpha channel when it has one, else its grey levels."""
    import cv2
    import numpy as np

    from ..data.image import ImageLoadError

    raw = np.fromfile(path, dtype=np.uint8) if Path(path).is_file() else np.zeros(0, np.uint8)
    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if img is None:
        raise ImageLoadError(f"{path}: matte is not a readable image")
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(img[:, :, 3])
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def cmd_mask_template(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data.image import ImageLoadError, load_image
    from ..data.image import write_image

    adder = build_adder(args.config, args.set)
    try:
        photo, matte = load_image(args.photo), _matte(args.matte)
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


def default_sheet_photos() -> list[Path]:
    """The shared photos plus FaceX-Zoo's SDK test1/test2 (those present under ``../shared/data``)."""
    photos = sorted((REPO_SHARED / "photos").glob("*")) if (REPO_SHARED / "photos").is_dir() else []
    sdk = [REPO_SHARED / "facexzoo-sdk" / f"test{i}.jpg" for i in (1, 2)]
    return [p for p in photos + sdk if p.is_file()]


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
    from ..data.image import ImageLoadError, load_image
    from .sdk_cli import SdkSetup, collect_files, process

    if args.crops:
        files, _ = collect_files([args.crops])
        out = []
        for f in files:
            try:
                out.append((f"{f.name} (crop)", load_image(f)))
            except ImageLoadError as exc:
                print(f"facex-core mask sheet: skipped {exc}", file=sys.stderr)
        return out
    defaults = [] if args.sdk_config else ["detector.name=mediapipe", "landmarker.name=mediapipe_mesh"]
    setup = SdkSetup(args.sdk_config, [*defaults, "aligner.name=arcface_5pt", *args.sdk_set])
    crops = []
    for it in process(setup, list(photos), align=True, command="align"):
        faces = [f for f in it.faces if f.crop is not None]
        if it.error or not faces:
            print(f"facex-core mask sheet: no aligned crop of {it.path}: {it.error or 'no face found'}",
                  file=sys.stderr)
            continue
        best = max(faces, key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
        crops.append((f"{it.path.name} (aligned 112)", best.crop))
    return crops


def cmd_mask_sheet(args: argparse.Namespace) -> int:
    from ..data.image import ImageLoadError, load_image
    from ..errors import ConfigError
    from .mask_data import image_seed
    from ..data.image import write_image
    from .sdk_cli import collect_files

    adder = build_adder(args.config, args.set)
    templates = args.template or list(adder.templates())[: args.max_templates]
    unknown = [t for t in templates if t not in adder.templates()]
    if unknown:
        raise ConfigError(f"unknown template(s) {unknown}; the adder has: {', '.join(adder.templates())}")
    photos = collect_files(args.paths)[0] if args.paths else default_sheet_photos()
    if not photos and not args.crops:
        raise FileNotFoundError("no photos given and ../shared/data/photos is absent: pass image paths")
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
    return 0


def add_mask_commands(sub: Any) -> None:
    """Register ``mask list|template|sheet`` on the top-level sub-parser."""
    sp = sub.add_parser("mask", help="virtual masks (FMA-3D): list templates, lift a template, before/after sheet")
    msub = sp.add_subparsers(dest="mask_command", required=True)

    p = msub.add_parser("list", help="the templates the mask adder can draw")
    _adder_options(p)
    p.set_defaults(func=cmd_mask_list)

    p = msub.add_parser("template", help="photo of a masked face + mask matte -> new UV template (BGRA PNG)")
    p.add_argument("photo", metavar="FROM_PHOTO", help="photo of a person wearing the mask")
    p.add_argument("matte", metavar="MATTE", help="mask matte: white where the mask is (or its alpha channel)")
    p.add_argument("out", metavar="OUT", help="template to write (.png)")
    _adder_options(p)
    p.set_defaults(func=cmd_mask_template)

    p = msub.add_parser("sheet", help="before/after grid: original | masked with each template")
    p.add_argument("out", metavar="OUT.png")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="photos or folders (default: ../shared/data/photos/* and facexzoo-sdk test1/test2)")
    p.add_argument("--template", action="append", help="template column (repeatable; default: all)")
    p.add_argument("--max-templates", type=int, default=8, help="at most this many template columns by default")
    p.add_argument("--crops", metavar="DIR", help="aligned crops to add as rows instead of aligning the photos")
    p.add_argument("--no-aligned", action="store_true", help="raw photos only, no aligned-crop rows")
    p.add_argument("--sdk-config", help="SDK TOML for aligning (default: mediapipe -> mediapipe_mesh -> arcface_5pt)")
    p.add_argument("--sdk-set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override an SDK key for aligning, e.g. --sdk-set detector.name=retinaface_mnet025")
    p.add_argument("--seed", type=int, default=0, help="augmentation seed (hashed with each row's name)")
    p.add_argument("--cell", type=int, default=192, help="cell size in pixels")
    _adder_options(p)
    p.set_defaults(func=cmd_mask_sheet)
