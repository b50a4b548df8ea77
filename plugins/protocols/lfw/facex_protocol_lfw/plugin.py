"""Registration of the LFW protocol: its config and its Component declaration.

Imported at plugin discovery, so it stays light: no numpy-heavy code, no import of the protocol
module (the registry imports ``facex_protocol_lfw.protocol`` only when the protocol is built).
"""
from typing import Any

from facex_core import Component, config, hookimpl, option

THRESHOLD_RULES = ("exact", "facexzoo")


def _one_of_rules(_instance: Any, attribute: Any, value: str) -> None:
    if value not in THRESHOLD_RULES:
        raise ValueError(f"{attribute.name} must be one of {', '.join(THRESHOLD_RULES)}, got {value!r}")


def _at_least(minimum: int):
    def check(_instance: Any, attribute: Any, value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be >= {minimum}, got {value}")
    return check


@config
class LFWConfig:
    """Where the pairs file and aligned crops are, and how thresholds are chosen."""

    pairs_file: str = option(doc="LFW pairs.txt: a header line, then 'name i j' (same) or "
                                 "'name1 i name2 j' (different) per line")
    image_root: str = option(doc="folder of aligned crops laid out as NAME/NAME_0001.jpg")
    threshold_rule: str = option("exact", validator=_one_of_rules,
                                 doc="'exact' (best cut over all training scores) or 'facexzoo' "
                                     "(FaceX-Zoo's 1000-step grid, reproduces its numbers)")
    folds: int = option(10, validator=_at_least(2), doc="number of cross-validation folds")
    pairs_per_fold: int = option(0, validator=_at_least(0),
                                 doc="0 = total/folds, as LFW's 10 blocks of 600")


@hookimpl
def facex_components():
    return [Component(
        kind="protocol", name="lfw",
        summary="LFW 10-fold verification accuracy (plus AUC, EER, TAR@FAR, ROC)",
        config=LFWConfig,
        factory="facex_protocol_lfw.protocol:LFWProtocol",
        paper="Huang et al. 2007, Labeled Faces in the Wild: A Database for Studying Face "
              "Recognition in Unconstrained Environments (UMass TR 07-49)",
    )]
