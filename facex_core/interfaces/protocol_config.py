"""Config fields shared by verification protocols (torch- and numpy-free, for light registration)."""
from __future__ import annotations

from typing import Any

from ..configs.options import option

#: Threshold selection rules of :func:`facex_core.kfold_verification`.
THRESHOLD_RULES = ("exact", "facexzoo", "insightface")

_DOCS = {"exact": "'exact' (best cut over all training scores)",
         "facexzoo": "'facexzoo' (FaceX-Zoo's 1000-step grid, reproduces its numbers)",
         "insightface": "'insightface' (InsightFace's 0..4 grid on 2 - 2cos, as InsightFace reports)"}


def threshold_rule_option(default: str = "exact") -> Any:
    """A validated ``threshold_rule`` config field; the error lists the default rule first."""
    rules = (default, *(r for r in THRESHOLD_RULES if r != default))
    return option(default, choices=rules, doc=", ".join(_DOCS[r] for r in rules))
