"""import_mediapipe(): the matplotlib placeholder, and clear errors when mediapipe is missing or broken."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

#: a meta-path finder that makes the named top-level packages look uninstalled (even if installed).
BLOCK = textwrap.dedent("""
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED or name in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
    sys.meta_path.insert(0, Block())
""")


def run_blocked(blocked, body):
    code = f"BLOCKED = {tuple(blocked)!r}\n{BLOCK}\n{textwrap.dedent(body)}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


needs_mediapipe = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                                     reason="the mediapipe package is not installed (see the plugin README)")


@needs_mediapipe
def test_registration_imports_nothing_heavy():
    out = run_blocked((), """
        import sys, facex_sdk_mediapipe.plugin as p
        names = [c.name for c in p.facex_components()]
        print(names, [m for m in ("mediapipe", "numpy", "cv2", "torch") if m in sys.modules])
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['mediapipe', 'mediapipe_mesh'] []"


@needs_mediapipe
def test_mediapipe_imports_with_a_placeholder_when_matplotlib_is_missing():
    out = run_blocked(("matplotlib",), """
        import sys
        from facex_sdk_mediapipe._import import MatplotlibPlaceholderError, import_mediapipe
        mp = import_mediapipe()
        assert hasattr(mp.solutions.face_detection, "FaceDetection")
        assert hasattr(mp.solutions.face_mesh, "FaceMesh")
        # the stand-in is gone from sys.modules: other code still sees matplotlib as missing
        assert "matplotlib" not in sys.modules and "matplotlib.pyplot" not in sys.modules
        try:
            import matplotlib
        except ModuleNotFoundError:
            pass
        else:
            raise AssertionError("matplotlib import should still fail")
        plt = mp.solutions.drawing_utils.plt      # what mediapipe's drawing helpers hold
        assert not hasattr(plt, "__file__")      # dunder probes stay harmless
        try:
            plt.figure
        except MatplotlibPlaceholderError as exc:
            print("ERROR:", exc)
        assert import_mediapipe() is mp          # second call reuses the module
    """)
    assert out.returncode == 0, out.stderr
    assert "matplotlib.pyplot.figure was used" in out.stdout and "pip install matplotlib" in out.stdout


def test_missing_mediapipe_error_gives_the_install_commands():
    out = run_blocked(("mediapipe",), """
        from facex_sdk_mediapipe._import import import_mediapipe
        try:
            import_mediapipe()
        except ImportError as exc:
            print(exc)
        else:
            raise AssertionError("no error")
    """)
    assert out.returncode == 0, out.stderr
    assert "pip install --no-deps mediapipe==0.10.21" in out.stdout
    assert "protobuf>=4.25.3,<5" in out.stdout


@needs_mediapipe
def test_broken_mediapipe_dependency_is_named():
    out = run_blocked(("google.protobuf",), """
        import facex_core
        det = facex_core.build("detector", "mediapipe")
        try:
            det.detect([__import__("numpy").zeros((8, 8, 3), "uint8")])
        except ImportError as exc:
            print(exc)
        else:
            raise AssertionError("no error")
    """)
    if out.returncode != 0 and "google" not in out.stderr:
        pytest.fail(out.stderr)
    assert "mediapipe is installed but cannot be imported" in out.stdout
    assert "google.protobuf" in out.stdout and "pip install --no-deps mediapipe==0.10.21" in out.stdout


_DETECT_BLANK = ("import numpy as np, facex_core\n"
                 "det = facex_core.build('detector', 'mediapipe')\n"
                 "print(len(det.detect([np.zeros((64, 64, 3), np.uint8)])[0]))\n")


@needs_mediapipe
@pytest.mark.parametrize("logs", ["0", "1"])
def test_native_start_up_notices_are_hidden_unless_asked_for(logs):
    env = {**os.environ, "FACEX_MEDIAPIPE_LOGS": logs}
    proc = subprocess.run([sys.executable, "-c", _DETECT_BLANK], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"
    assert ("XNNPACK" in proc.stderr) == (logs == "1"), proc.stderr


_LIST_WITHOUT_MEDIAPIPE = """
import importlib.util, sys
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] == "mediapipe" else real(name, *a)
from facex_core import main
code = main(["list", "--kind", "detector"])
print("exit", code)
try:
    import facex_core
    facex_core.build("detector", "mediapipe")
except Exception as exc:
    print("build:", type(exc).__name__, exc)
"""


def test_without_mediapipe_the_plugin_is_listed_broken_with_the_install_recipe():
    proc = subprocess.run([sys.executable, "-c", _LIST_WITHOUT_MEDIAPIPE], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "FACEX_NO_PROGRESS": "1"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "exit 0" in out, out
    assert "broken" in out and "pip install --no-deps mediapipe==0.10.21" in out, out
    assert "retinaface_mnet025" in out  # the other plugins keep working
    assert "build:" in out and "mediapipe" in out.split("build:")[1], out
