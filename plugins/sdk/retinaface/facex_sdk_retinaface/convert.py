"""``python -m facex_sdk_retinaface.convert MODEL OUT.npz``: FaceX-Zoo's pickled detector → plain arrays.

MODEL is FaceX-Zoo's ``face_detection_retina.pkl`` (or any state dict / pickled model of the same
network). It is read by :mod:`facex_sdk_retinaface.safe_torch_file`, which never runs code from the
file; the output is an ``.npz`` (no pickles) that loads with ``np.load(allow_pickle=False)``. The keys
are checked against the network before anything is written.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facex_sdk_retinaface.convert", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="face_detection_retina.pkl (or a state dict)")
    parser.add_argument("out", help="output .npz")
    args = parser.parse_args(argv)

    from .detector import build_network, load_weights
    from .safe_torch_file import UnsafeFileError

    try:
        build_network(args.model)  # strict key/shape check
        arrays = load_weights(args.model)
    except (UnsafeFileError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out if args.out.endswith(".npz") else args.out + ".npz"
    np.savez(out, **arrays)
    print(f"wrote {out}: {len(arrays)} arrays, {sum(a.size for a in arrays.values())} values")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
