"""Every name the package exports resolves, and importing it stays light."""
import subprocess
import sys

import facex_core


def test_every_public_name_resolves():
    missing = [name for name in facex_core.__all__ if getattr(facex_core, name, None) is None]
    assert not missing, missing


def test_import_does_not_pull_in_torch():
    code = "import sys, facex_core; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_public_annotations_resolve_for_type_checkers():
    """A type checker (or ``typing.get_type_hints``) must resolve every public signature; only torch and numpy may
    stay behind ``TYPE_CHECKING`` (modules that must import without them), so they alone are supplied here."""
    import inspect
    import typing

    import numpy as np
    import torch

    names = {"torch": torch, "nn": torch.nn, "np": np, **{n: getattr(facex_core, n) for n in facex_core.__all__}}
    unresolved = []
    for name in facex_core.__all__:
        obj = getattr(facex_core, name)
        members = [(f"{name}.{k}", v) for k, v in vars(obj).items() if inspect.isfunction(v)] \
            if inspect.isclass(obj) else []
        for label, target in [(name, obj), *members] if inspect.isclass(obj) or inspect.isfunction(obj) else []:
            try:
                typing.get_type_hints(target, localns=names)
            except Exception as exc:  # noqa: BLE001 - collected and reported together
                unresolved.append(f"{label}: {exc}")
    assert not unresolved, unresolved
