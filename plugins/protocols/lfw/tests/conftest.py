"""Make this folder's helper modules (``lfw_reference``, ``matlab_v5_writer``) importable.

The repository runs pytest with ``--import-mode=importlib``, which does not put test folders on
``sys.path``; the helpers have plugin-specific names so they cannot shadow another plugin's.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
