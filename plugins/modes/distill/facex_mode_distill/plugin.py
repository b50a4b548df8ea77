"""Registration of the distillation training mode (light: no torch import).

``[training] name = "distill"``: the student is the experiment's backbone + head; the teacher is a
FaceX checkpoint (``teacher``); ``loss = head_weight · head loss + Σ_i weight_i · term_i`` where each
``[[training.losses]]`` term names a ``distill_loss`` component and what it taps on both networks.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from facex_core import (Component, ConfigError, LoopConfig, OptimizerConfig, ScheduleConfig, config, hookimpl,
                        option)

#: What a term may tap on a network: its head's logits, its embeddings, or a named stage's output.
TAP_WORDS = ("logits", "embeddings")
ADAPTERS = ("auto", "always", "none")


def parse_taps(text: str) -> tuple[str, ...]:
    """``"stage:a, stage:b"`` → ``("stage:a", "stage:b")``; ``ValueError`` naming the first bad tap."""
    taps = tuple(part.strip() for part in text.split(","))
    for tap in taps:
        if tap not in TAP_WORDS and not (tap.startswith("stage:") and tap[len("stage:"):].strip()):
            raise ValueError(f"tap {tap!r}: expected 'logits', 'embeddings' or 'stage:NAME' (a name from the "
                             "backbone's stages(); several comma-separated for a loss that takes a sequence of maps)")
    if len(taps) > 1 and any(not tap.startswith("stage:") for tap in taps):
        raise ValueError(f"taps {text!r}: only stage taps can form a sequence")
    return tuple(f"stage:{tap[len('stage:'):].strip()}" if tap.startswith("stage:") else tap for tap in taps)


def _term_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The loss's settings validated by its own config class, with every default filled in."""
    import attrs

    import facex_core

    try:
        _entry, cfg = facex_core.component_config("distill_loss", name, options, path="options", source="")
    except ConfigError as exc:
        raise ValueError(str(exc).removeprefix(": ")) from None
    except LookupError as exc:
        raise ValueError(f"name: {exc} (facex-core list --kind distill_loss)") from None
    return attrs.asdict(cfg)


@config
class DistillTermConfig:
    """One ``[[training.losses]]`` term: ``weight · loss(student side, teacher side)``."""

    name: str = option(doc="The distill_loss component (facex-core list --kind distill_loss), e.g. 'soft_target'.")
    weight: float = option(1.0, ge=0, doc="λ: the term's weight in the total loss.")
    student: str = option("embeddings", doc="What the term taps on the student: 'logits' (head output), "
                                            "'embeddings' or 'stage:NAME' (a name of the backbone's stages(); "
                                            "comma-separated stages for a loss that takes several maps, e.g. fsp).")
    teacher: str = option("", doc="What it taps on the teacher, same syntax; empty = the same as student.")
    adapter: str = option("auto", choices=ADAPTERS,
                          doc="Student-side adapter, trained with the student and kept out of its backbone "
                              "weights: maps get 1×1 conv + BN (channels) and pooling/resizing to the teacher's "
                              "size, embeddings linear + BN. 'auto': only where the loss needs equal shapes and "
                              "they differ; 'always'; 'none' (differing shapes are an error).")
    options: dict[str, Any] = option(factory=dict, doc="The loss's own settings (facex-core describe distill_loss "
                                                       "NAME), e.g. options = { T = 4.0 }.")

    def __attrs_post_init__(self) -> None:
        student = parse_taps(self.student)
        teacher = parse_taps(self.teacher) if self.teacher else student
        if len(student) != len(teacher):
            raise ValueError(f"student taps {self.student!r} and teacher taps {self.teacher!r}: not as many")
        object.__setattr__(self, "options", _term_options(self.name, dict(self.options)))

    @property
    def student_taps(self) -> tuple[str, ...]:
        return parse_taps(self.student)

    @property
    def teacher_taps(self) -> tuple[str, ...]:
        return parse_taps(self.teacher) if self.teacher else self.student_taps


def _at_least_one(_instance: Any, attribute: Any, value: tuple) -> None:
    if not value:
        raise ValueError(f"{attribute.name}: give at least one [[training.losses]] term (else train with the "
                         "conventional mode)")


@config
class DistillConfig:
    """Knowledge distillation from a frozen FaceX checkpoint; loop, optimiser and schedule as the
    conventional mode (FaceX-Zoo train.sh defaults)."""

    teacher: str = option(doc="FaceX checkpoint of the teacher (any mode's last.pt/epoch_N.pt/best.pt); its "
                              "[data] input convention (channels, mean, std, crop_eye) must equal the student's.")
    losses: tuple[DistillTermConfig, ...] = option(validator=_at_least_one,
                                                   doc="The distillation terms ([[training.losses]] tables).")
    head_weight: float = option(1.0, ge=0, doc="Weight of the student head's loss (and its extra terms); 0 = "
                                               "distillation terms only.")
    cache_teacher: bool = option(False, doc="Compute the teacher's outputs once per run (both flips) instead of "
                                            "every step; exact only without [data.augment] (refused with it) and "
                                            "without data.max_bad_images; see the README.")
    loop: LoopConfig = option(factory=LoopConfig, doc="Epochs, batch size, logging and checkpoint cadence.")
    optimizer: OptimizerConfig = option(factory=OptimizerConfig, doc="SGD lr 0.1, momentum 0.9, weight decay 1e-4 "
                                                                     "(student and adapters).")
    schedule: ScheduleConfig = option(factory=ScheduleConfig, doc="Multi-step decay ×0.1 at epochs 10, 13, 16.")


@hookimpl
def facex_components():
    return [Component(kind="training_mode", name="distill",
                      summary="Knowledge distillation: frozen teacher checkpoint → student backbone + head, "
                              "head loss + Σ λ·distill_loss terms on logits/embeddings/stages",
                      config=DistillConfig, factory="facex_mode_distill.mode:DistillTraining",
                      paper="FaceX-Zoo's face_lightning/KDF (Wang et al., ACM MM 2021); the terms are "
                            "distill_loss components")]


@hookimpl
def facex_packaged_configs():
    # `facex-core demo distill_teacher.toml`, then `facex-core demo distill.toml` (synthetic faces)
    here = Path(__file__).parent
    return {name: str(here / name) for name in ("distill_teacher.toml", "distill.toml")}
