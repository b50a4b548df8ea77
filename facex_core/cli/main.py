"""The ``facex-core`` command line: the core's commands plus every command a plugin adds. ``--help`` and ``list``
stay fast and never import torch: names and help come from :class:`facex_core.Command` declarations, and only
the chosen command's ``setup`` function (its arguments) is imported."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence

from ..errors import UserError
from ..version import __version__
from .commands import CORE_COMMANDS


def _conflict(note: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        print(f"facex-core: error: `{args.command_path}` is provided by several distributions ({note}); "
              f"uninstall one, or disable it with FACEX_DISABLE_PLUGINS=DISTRIBUTION", file=sys.stderr)
        return 2
    return run


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The whole parser; ``argv`` says which command's arguments to load (none for ``--help``)."""
    from ..plugin_api.registry import import_object, registry

    p = argparse.ArgumentParser(prog="facex-core", description="FaceX: face recognition training, evaluation and SDK.")
    p.add_argument("--version", action="version", version=f"facex-core {__version__}")
    top = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    core_paths = {c.path for c in CORE_COMMANDS}
    declared = [(c, "facex-core", "") for c in CORE_COMMANDS]
    declared += [(e.command, e.distribution, e.error if e.status == "conflict" else "") for e in registry().commands()
                 if e.command is not None and e.command.path not in core_paths]
    groups: dict[str, Any] = {"": top}
    words = [a for a in argv if not a.startswith("-")]
    # outer groups first, so that a command may join a group declared by any distribution
    for cmd, dist, note in sorted(declared, key=lambda row: len(row[0].group.split())):
        parent = groups.get(cmd.group)
        if parent is None or cmd.name in parent.choices:
            continue  # its group is not installed (`list` shows it), or a core command of that name
        sp = parent.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        sp.set_defaults(command_path=cmd.path, distribution=dist)
        if not cmd.setup:
            groups[cmd.path] = sp.add_subparsers(dest=f"{cmd.path.replace(' ', '_')}_command", required=True,
                                                 metavar="COMMAND")
        elif note:
            sp.add_argument("ignored", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            sp.set_defaults(func=_conflict(note))
        elif cmd.path.split() == words[:len(cmd.path.split())]:
            import_object(cmd.setup)(sp)
    return p


def user_message(exc: BaseException) -> str:
    """The one-line (or short) message of a user error, also when a DataLoader worker raised it
    (torch then wraps the worker's whole traceback into the message: keep only its last line)."""
    text = str(exc).strip() or type(exc).__name__
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last and last.split(": ", 1)[0].count(".") else last
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``facex-core``: a user's mistake prints one line naming the culprit and exits 2, Ctrl-C exits 130, a
    closed output pipe exits quietly; only a bug shows a traceback (user errors too with ``FACEX_DEBUG=1``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("FACEX_DEBUG", "") not in ("", "0")
    args = None
    try:
        args = build_parser(argv).parse_args(argv)
        return int(args.func(args) or 0)
    except (UserError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):  # `facex-core list | head`: the reader has what it wanted
            sys.stdout = open(os.devnull, "w")
            return 141
        if debug:
            raise
        print(f"facex-core: error: {user_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", "") if args is not None else ""
        print(f"facex-core: interrupted{f' ({hint})' if hint else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
