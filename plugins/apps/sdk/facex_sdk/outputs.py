"""What the SDK commands write: a face as a JSON row, an image with its faces drawn, output names
that never overwrite each other, and the summary line on stderr."""
from __future__ import annotations

import sys
from typing import Any, Sequence


def _rounded(values: Any, digits: int = 2) -> Any:
    import numpy as np

    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


def face_json(face: Any) -> dict[str, Any]:
    """A face as the JSON the commands print: box and landmarks in pixels (2 decimals), score."""
    return {"box": _rounded(face.box), "score": round(float(face.score), 4),
            "landmarks": None if face.landmarks is None else _rounded(face.landmarks)}


def identity_rows(faces: Sequence[Any], matches: Sequence[Any] | None) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The JSON rows of ``faces`` and, with gallery ``matches`` (one per face, ``None`` for a face without
    embedding), each row's ``identity``/``similarity``/``nearest`` and the labels to draw."""
    rows = [face_json(f) for f in faces]
    if matches is None:
        return rows, None
    labels = []
    for row, found in zip(rows, matches):
        if found is None:
            row.update(identity=None, similarity=None)
            labels.append("?")
            continue
        row.update(identity=found.identity if found.match else None, similarity=round(found.score, 4),
                   nearest=found.identity)
        labels.append(f"{found.identity if found.match else 'unknown'} {found.score:.2f}")
    return rows, labels


def unique_stem(stem: str, used: set[str]) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... if an earlier input of the batch took it (records it as used)."""
    name, k = stem, 2
    while name in used:
        name, k = f"{stem}-{k}", k + 1
    used.add(name)
    return name


def annotate(image: Any, faces: Sequence[Any], labels: Sequence[str] | None = None) -> Any:
    """A copy of ``image`` with each face's box, score (or ``labels[i]``) and landmarks drawn."""
    import cv2
    import numpy as np

    out = image.copy()
    thick = max(1, round(max(out.shape[:2]) / 400))
    colours = [(255, 0, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0)]
    for i, face in enumerate(faces):
        x1, y1, x2, y2 = (int(round(v)) for v in np.asarray(face.box, dtype=np.float64))
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0), thick)
        text = f"{face.score:.2f}" if labels is None else labels[i]
        cv2.putText(out, text, (x1, max(0, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (0, 255, 0), thick)
        if face.landmarks is not None:
            points = np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2)
            dense = len(points) > 68  # a mesh: small dots of one colour stay readable
            for k, (x, y) in enumerate(points):
                cv2.circle(out, (int(round(x)), int(round(y))), 1 if dense else thick + 1,
                           (0, 255, 255) if dense else colours[k % len(colours)], -1)
    return out


def summary(command: str, n_files: int, n_faces: int, n_errors: int, extra: str = "") -> int:
    """Print the one-line summary of a batch command on stderr (stdout holds the per-file results);
    return its exit status: 1 when no input could be processed, else 0."""
    print(f"sdk {command}: {n_files} files, {n_faces} faces, {n_errors} errors{extra}", file=sys.stderr)
    return 1 if n_errors >= n_files else 0
