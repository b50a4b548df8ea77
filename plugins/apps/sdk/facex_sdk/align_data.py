"""``facex-core data align``: a folder of raw photos → aligned 112×112 crops (FaceX-Zoo's step 1).

Every image under SRC gives one crop of its largest face (``[sdk] face = "best"``: the best-scored one)
at the same relative path under DST, so identity sub-folders are kept and the result is a FaceX image
folder. The stages are the SDK's (``--config sdk.toml`` / ``--set``), except that the aligner defaults
to ``arcface_5pt`` (the 112×112 ArcFace template FaceX models train on).

Each image is run on its own, in this process or in ``--workers`` spawned processes
(:func:`facex_core.parallel_map`), so the crops do not depend on the worker count or on which images an
earlier run already wrote: a run skips outputs that exist (crops are written under a temporary name and
renamed, so a crop that exists is complete; a killed run's temporaries are removed), and an interrupted
run continued gives the same files as one uninterrupted run. DST is locked for the run
(:class:`facex_core.FolderLock`): a second ``data align`` into it fails at once. Images that cannot be
read, that show no face, or on which a stage fails are listed in a JSON report (default
``DST/align_report.json``) and on stdout as JSON lines; a summary line goes to stderr.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from facex_core import ConfigError

from .config import add_config_arguments
from .inputs import collect_files, read_image
from .pipeline import SdkSetup

#: Stage defaults that differ from the SDK's: training crops use the ArcFace template.
ALIGN_DEFAULTS = {"aligner": "arcface_5pt"}
REPORT_NAME = "align_report.json"
#: The pipeline settings of the crops in DST, checked by every later run into the same folder.
SETTINGS_NAME = ".align_settings.json"
PROBLEMS = ("unreadable", "no_face", "failed")

#: The stages of this process: set by :func:`_use_setup` here, or in each spawned worker.
_SETUP: Any = None


def align_file(setup: SdkSetup, src: Path, dst: Path) -> dict[str, Any]:
    """Crop the chosen face of image ``src`` to ``dst``; the per-file result, never an exception."""
    from facex_core import pick_face, write_image

    image, error = read_image(src)
    if error:
        return {"file": str(src), "status": "unreadable", "error": error}
    try:
        faces = setup.pipeline(align=True, command="data align")([image], align=True, embed=False)[0]
    except Exception as exc:  # noqa: BLE001 - one image's failure is its result, not the run's
        return {"file": str(src), "status": "failed", "error": f"{src}: {type(exc).__name__}: {exc}"}
    face = pick_face(faces, setup.settings.face, need="crop")
    if face is None:
        why = "no face found" if not faces else f"{len(faces)} face(s) found, none could be aligned"
        return {"file": str(src), "status": "no_face", "error": f"{src}: {why}"}
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        write_image(dst, face.crop)
    except Exception as exc:  # noqa: BLE001 - e.g. an output suffix OpenCV cannot encode
        return {"file": str(src), "status": "failed", "error": f"{dst}: cannot write ({exc})"}
    return {"file": str(src), "status": "aligned", "faces": len(faces), "out": str(dst)}


def _use_setup(config: str | None, overrides: list[str], built: SdkSetup | None) -> None:
    """Worker initializer: the stages built here (``built``), or built anew from the config in a worker."""
    global _SETUP
    _SETUP = built if built is not None else SdkSetup(config, overrides, ALIGN_DEFAULTS)


def _align_task(task: tuple[str, str]) -> dict[str, Any]:
    return align_file(_SETUP, Path(task[0]), Path(task[1]))


def setup_data_align(p: argparse.ArgumentParser) -> None:
    """Arguments of ``data align``."""
    p.description = ("FaceX-Zoo's step 1: the largest face of every image under SRC, aligned (arcface_5pt by "
                     "default) and written at the same relative path under DST. Resumable: outputs that exist "
                     "are skipped.")
    p.add_argument("src", help="folder of raw photos (searched recursively; sub-folders are kept)")
    p.add_argument("dst", help="output folder (created)")
    add_config_arguments(p)
    p.add_argument("--workers", type=int, default=2, help="worker processes; 0 = this process (default 2)")
    p.add_argument("--report", metavar="FILE.json", help=f"problem report (default DST/{REPORT_NAME})")
    p.set_defaults(func=run_data_align, interrupt_hint="rerun the same command to continue")


def run_data_align(args: argparse.Namespace) -> int:
    """Align every image under SRC into DST (skipping done ones), report the problems."""
    from facex_core import FolderLock, check_settings

    src, dst = Path(args.src), Path(args.dst)
    if not src.is_dir():
        raise ConfigError(f"{src}: source folder not found (raw photos, one sub-folder per identity)")
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise ConfigError(f"{dst}: the output folder must not be inside the source folder {src}")
    if args.workers < 0:
        raise ConfigError(f"--workers: expected >= 0, got {args.workers}")
    setup = SdkSetup(args.config, args.set, ALIGN_DEFAULTS)
    for kind in ("detector", "landmarker", "aligner"):  # a config mistake is one error, before any work
        setup.stage(kind, "data align")
    with FolderLock(dst, "data align"):
        # crops of another pipeline (another aligner, crop size or face choice) must not mix with these
        check_settings(dst / SETTINGS_NAME, {"stages": {k: setup.tables.get(k, {"name": setup.names.get(k)})
                                                        for k in ("detector", "landmarker", "aligner")},
                                             "face": setup.settings.face, "scene": setup.settings.scene},
                       "data align run")
        return _align_folder(args, src, dst, setup)


def _align_folder(args: argparse.Namespace, src: Path, dst: Path, setup: SdkSetup) -> int:
    from facex_core import Progress, parallel_map, remove_temporaries

    remove_temporaries(dst)
    files, _ = collect_files([str(src)])
    tasks, done = [], 0
    for f in files:
        out = dst / f.relative_to(src)
        if out.exists():
            done += 1
        else:
            tasks.append((str(f), str(out)))
    report_path = Path(args.report) if args.report else dst / REPORT_NAME
    results: list[dict[str, Any]] = []
    bar = Progress(len(tasks), desc="data align", unit="img")
    in_process = args.workers == 0 or not tasks
    complete = False
    try:
        # the stages built above serve this process; each spawned worker builds its own from the config
        stream = parallel_map(_align_task, tasks, args.workers, initializer=_use_setup,
                              initargs=(args.config, list(args.set), setup if in_process else None))
        with contextlib.closing(stream):  # stopping early terminates the workers at once
            for result in stream:
                results.append(result)
                if result["status"] != "aligned":
                    print(json.dumps({"file": result["file"], "status": result["status"],
                                      "error": result["error"]}), flush=True)
                bar.update(1, postfix=f"{sum(r['status'] != 'aligned' for r in results)} problems")
        complete = True
    finally:
        global _SETUP
        _SETUP = None  # the stages are this run's: do not keep their models alive after it
        bar.close()
        _write_report(report_path, src, dst, setup, files, done, results, complete)
    counts = {k: sum(r["status"] == k for r in results) for k in ("aligned", *PROBLEMS)}
    print(f"data align: {len(files)} images: {counts['aligned']} aligned, {done} already done, "
          f"{counts['no_face']} without a face, {counts['unreadable']} unreadable, {counts['failed']} failed "
          f"-> {dst} (report {report_path})", file=sys.stderr)
    return 0


def _write_report(path: Path, src: Path, dst: Path, setup: SdkSetup, files: list[Path], done: int,
                  results: list[dict[str, Any]], complete: bool) -> None:
    report: dict[str, Any] = {
        "src": str(src), "dst": str(dst), "complete": complete,
        "pipeline": {k: setup.names.get(k) for k in ("detector", "landmarker", "aligner")},
        "face": setup.settings.face, "images": len(files), "already_done": done,
        "aligned": sum(r["status"] == "aligned" for r in results)}
    for kind in PROBLEMS:
        report[kind] = sorted(({"file": r["file"], "error": r["error"]} for r in results if r["status"] == kind),
                              key=lambda row: row["file"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
