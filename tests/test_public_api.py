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
