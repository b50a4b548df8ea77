"""insightface's MegaFace noise cleaning, as FaceX-Zoo's ``remove_noises.py`` applies it.

* A FaceScrub image on the noise list gets the L2-normalised mean of the features of the same
  person's other (non-noise) images; the person is the file name up to its last ``_``.
* A MegaFace distractor on the noise list gets an all-zero feature, so it scores 0 against every
  probe (it stays in the distractor count, as in the reference).

Names are compared without their extension (the FaceScrub list says ``.png`` while crops are often
``.jpg``) and, for FaceScrub, with spaces read as underscores (some FaceScrub copies name people
``Richard Madden``, the list writes ``Richard_Madden``).
"""
from __future__ import annotations

import posixpath

import numpy as np


def _stem(name: str) -> str:
    return posixpath.splitext(name)[0]


def facescrub_key(path: str) -> str:
    """Comparable name of a FaceScrub image: file name, no extension, spaces as underscores."""
    return _stem(posixpath.basename(path)).replace(" ", "_")


def person_of(path: str) -> str:
    """The FaceScrub person of an image: its comparable name up to the last ``_``."""
    key = facescrub_key(path)
    cut = key.rfind("_")
    return key[:cut] if cut > 0 else key


def megaface_key(path: str) -> str:
    """Comparable name of a distractor: its last three path parts (``id1/id2/file``), no extension."""
    parts = [p for p in path.split("/") if p]
    return _stem("/".join(parts[-3:]))


def facescrub_noise_mask(paths: list[str], noises: list[str]) -> np.ndarray:
    """True for each probe image that the FaceScrub noise list names."""
    wanted = {facescrub_key(n) for n in noises}
    return np.array([facescrub_key(p) in wanted for p in paths], dtype=bool)


def megaface_noise_mask(paths: list[str], noises: list[str]) -> np.ndarray:
    """True for each distractor that the MegaFace noise list names."""
    wanted = {megaface_key(n) for n in noises}
    return np.array([megaface_key(p) in wanted for p in paths], dtype=bool)


def replace_facescrub_noise(features: np.ndarray, paths: list[str], noisy: np.ndarray) -> np.ndarray:
    """A copy of ``features`` in which each noisy row is its person's normalised clean mean."""
    if not noisy.any():
        return features
    persons = [person_of(p) for p in paths]
    names, codes = np.unique(np.array(persons, dtype=object), return_inverse=True)
    sums = np.zeros((names.size, features.shape[1]), dtype=np.float64)
    np.add.at(sums, codes[~noisy], features[~noisy])
    norms = np.linalg.norm(sums, axis=1)
    need = np.unique(codes[noisy])
    empty = need[norms[need] == 0]
    if empty.size:
        raise ValueError(f"FaceScrub person {names[empty[0]]!r} has only noise images (or clean "
                         "features summing to zero); the noise list leaves nothing to average")
    out = np.array(features, dtype=np.float32, copy=True)
    out[noisy] = (sums[codes[noisy]] / norms[codes[noisy], None]).astype(np.float32)
    return out
