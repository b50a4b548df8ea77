"""``facex-core sdk gallery build|add|remove|info``: gallery files (:class:`facex_sdk.Gallery`).

``build`` embeds identity folders (``identity/*.jpg``) and/or reads ``sdk embed`` files and writes one
gallery file; ``add`` and ``remove`` change a gallery file in place (atomically, the folder locked
against a second writer) without re-embedding the identities already in it; ``info`` describes one.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .config import add_aligned_option, add_config_arguments


def _describe(gallery: Any, path: str) -> str:
    info = gallery.info()
    index = info["config"]["index"]
    return (f"gallery {path}: {info['identities']} identities, {info['faces']} faces, {info['dim']}-d, index "
            f"{index}; pipeline {', '.join(f'{k} {v}' for k, v in (info['pipeline'] or {}).items()) or 'unknown'}")


def setup_build(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk gallery build``."""
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="a folder with one sub-folder of images per identity, or an `sdk embed` .npz file")
    add_config_arguments(p)
    p.add_argument("--out", required=True, metavar="GALLERY", help="the gallery file to write (.npz)")
    add_aligned_option(p, "the identity folders' images")
    p.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    """Embed the sources with the configured pipeline and write the gallery (with its ``[gallery]`` index)."""
    from .commands import analyzer_of

    gallery = analyzer_of(args).build_gallery(*args.sources, command="gallery build", aligned=args.aligned)
    gallery.save(args.out)
    print(_describe(gallery, args.out))
    return 0


def setup_add(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk gallery add``."""
    p.add_argument("gallery", metavar="GALLERY", help="a gallery file written by `sdk gallery build`")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="identity folders' parent folder, or an `sdk embed` .npz file; a known identity "
                        "gets its new faces averaged in")
    add_config_arguments(p)
    add_aligned_option(p, "the identity folders' images")
    p.set_defaults(func=run_add)


def run_add(args: argparse.Namespace) -> int:
    """Add identities (or faces of known ones) to a gallery file; the pipeline must be the gallery's."""
    from facex_core import FolderLock

    from .commands import analyzer_of
    from .gallery import Gallery

    analyzer = analyzer_of(args)
    with FolderLock(Path(args.gallery).resolve().parent, "gallery update"):
        gallery = Gallery.load(args.gallery)
        changed = analyzer.add_to_gallery(gallery, *args.sources, command="gallery add", aligned=args.aligned)
        gallery.save(args.gallery)
    print(f"{len(changed)} identities added or updated")
    print(_describe(gallery, args.gallery))
    return 0


def setup_remove(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk gallery remove``."""
    p.add_argument("gallery", metavar="GALLERY", help="a gallery file written by `sdk gallery build`")
    p.add_argument("names", nargs="+", metavar="IDENTITY", help="identities to remove")
    p.set_defaults(func=run_remove)


def run_remove(args: argparse.Namespace) -> int:
    """Remove identities from a gallery file (all names must be in it; the last one cannot go)."""
    from facex_core import FolderLock

    from .gallery import Gallery

    with FolderLock(Path(args.gallery).resolve().parent, "gallery update"):
        gallery = Gallery.load(args.gallery)
        gallery.remove(args.names)
        gallery.save(args.gallery)
    print(_describe(gallery, args.gallery))
    return 0


def setup_info(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk gallery info``."""
    p.add_argument("gallery", metavar="GALLERY", help="a gallery file written by `sdk gallery build`")
    p.add_argument("--names", action="store_true", help="also list every identity with its face count")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_info)


def run_info(args: argparse.Namespace) -> int:
    """Print what a gallery file holds."""
    from .gallery import Gallery

    gallery = Gallery.load(args.gallery)
    info = {"file": args.gallery, **gallery.info(), "pipeline_identity": gallery.pipeline}
    if args.names:
        info["names"] = {n: int(c) for n, c in zip(gallery.names, gallery.counts)}
    if args.json:
        print(json.dumps(info))
    else:
        print(_describe(gallery, args.gallery))
        print("settings: " + ", ".join(f"{k} {v}" for k, v in info["config"].items()))
        for name, count in info.get("names", {}).items():
            print(f"  {name}  ({count} faces)")
    return 0
