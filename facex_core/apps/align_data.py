"""``facex-core data align``: a folder of raw photos → aligned 112×112 crops (FaceX-Zoo's step 1).

Every image under SRC gives one crop of its largest face (``[sdk] face = "best"``: the best-scored one)
at the same relative path under DST, so identity sub-folders are kept and the result is a FaceX image
folder. The stages are the SDK's (``--config sdk.toml`` / ``--set``), except that the aligner defaults
to ``arcface_5pt`` (the 112×112 ArcFace template FaceX models train on).

Each image is run on its own, in this process or in ``--workers`` spawned processes, so the crops do not
depend on the worker count or on which images an earlier run already wrote: a run skips outputs that
exist (crops are written under a temporary name and renamed, so a crop that exists is complete), and an
interrupted run continued gives the same files as one uninterrupted run. Images that cannot be read, that
show no face, or on which a stage fails are listed in a JSON report (default ``DST/align_report.json``)
and on stdout as JSON lines; a summary line goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: Stage defaults that differ from the SDK's: training crops use the ArcFace template.
ALIGN_DEFAULTS = {"aligner": "arcface_5pt"}
REPORT_NAME = "align_report.json"
#: Crops are written to hidden temporaries and renamed (facex_core.write_image); a killed run's
#: leftovers match this pattern and are removed when the run is continued.
STALE_TEMPORARIES = ".*.tmp"
PROBLEMS = ("unreadable", "no_face", "failed")

_WORKER_SETUP: Any = None


def align_file(setup: Any, src: Path, dst: Path) -> dict[str, Any]:
    """Crop the chosen face of image ``src`` to ``dst``; the per-file result, never an exception."""
    from ..data.image import write_image
    from .sdk_cli import _read, _run_stages, pick_face

    image, error = _read(src)
    if error:
        return {"file": str(src), "status": "unreadable", "error": error}
    try:
        faces = _run_stages(setup, [image], align=True, embed=False, command="data align")[0]
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


def _init_worker(config: str | None, overrides: list[str]) -> None:
    from .sdk_cli import SdkSetup

    global _WORKER_SETUP
    _WORKER_SETUP = SdkSetup(config, overrides, ALIGN_DEFAULTS)


def _align_task(task: tuple[str, str]) -> dict[str, Any]:
    return align_file(_WORKER_SETUP, Path(task[0]), Path(task[1]))


def cmd_data_align(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..runtime.progress import Progress
    from .sdk_cli import SdkSetup, collect_files

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
    dst.mkdir(parents=True, exist_ok=True)
    for stale in dst.rglob(STALE_TEMPORARIES):
        stale.unlink()
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
    pool = None
    complete = False
    try:
        if args.workers == 0 or not tasks:
            stream = (align_file(setup, Path(s), Path(d)) for s, d in tasks)
        else:
            import multiprocessing

            # spawn: the stages' libraries (torch, MediaPipe, dlib) are not fork-safe once loaded here
            pool = multiprocessing.get_context("spawn").Pool(
                min(args.workers, len(tasks)), initializer=_init_worker, initargs=(args.config, list(args.set)))
            stream = pool.imap(_align_task, tasks, chunksize=1)
        for result in stream:
            results.append(result)
            if result["status"] != "aligned":
                print(json.dumps({"file": result["file"], "status": result["status"], "error": result["error"]}),
                      flush=True)
            bar.update(1, postfix=f"{sum(r['status'] != 'aligned' for r in results)} problems")
        complete = True
    finally:
        if pool is not None:
            pool.terminate() if not complete else pool.close()
            pool.join()
        bar.close()
        _write_report(report_path, src, dst, setup, files, done, results, complete)
    counts = {k: sum(r["status"] == k for r in results) for k in ("aligned", *PROBLEMS)}
    print(f"data align: {len(files)} images: {counts['aligned']} aligned, {done} already done, "
          f"{counts['no_face']} without a face, {counts['unreadable']} unreadable, {counts['failed']} failed "
          f"-> {dst} (report {report_path})", file=sys.stderr)
    return 0


def _write_report(path: Path, src: Path, dst: Path, setup: Any, files: list[Path], done: int,
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


def add_data_align_command(dsub: Any) -> None:
    """Register ``data align`` on the ``data`` sub-parser."""
    from .sdk_cli import add_config_arguments

    p = dsub.add_parser("align", help="raw photos (one sub-folder per identity) -> aligned 112x112 crops",
                        description="FaceX-Zoo's step 1: the largest face of every image under SRC, aligned "
                                    "(arcface_5pt by default) and written at the same relative path under "
                                    "DST. Resumable: outputs that exist are skipped.")
    p.add_argument("src", help="folder of raw photos (searched recursively; sub-folders are kept)")
    p.add_argument("dst", help="output folder (created)")
    add_config_arguments(p)
    p.add_argument("--workers", type=int, default=2, help="worker processes; 0 = this process (default 2)")
    p.add_argument("--report", metavar="FILE.json", help=f"problem report (default DST/{REPORT_NAME})")
    p.set_defaults(func=cmd_data_align)
