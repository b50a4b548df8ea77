"""Fine-tuning: a conventional run that starts from another FaceX checkpoint (``[training] init``).

* The backbone's weights load strictly: every weight of the run's backbone comes from the checkpoint
  and every backbone weight of the checkpoint is used, except those ``init_ignore`` lists (key prefixes
  such as ``backbone.linear`` or globs), which keep the run's fresh initialisation.
* The class centres (the head's parameters) are kept when the classes match (the same ``num_classes``
  and embedding size, and tensors of the same shapes), and initialised afresh otherwise.
* The run's ``[data]`` input convention must be the checkpoint's: a network fed other pixels than it
  learnt on starts from a worse point than it seems.
"""
from __future__ import annotations

import fnmatch
from typing import Any, Sequence

import facex_core
from facex_core import ConfigError, DataError, Preprocess

#: Where a checkpoint's weights are in its ``model`` state dict.
BACKBONE, HEAD = "backbone.", "head."


def listed(key: str, patterns: Sequence[str]) -> bool:
    """Whether ``key`` (``backbone.linear.weight``) is one of ``patterns``: a key, a prefix ending at a
    dot (``backbone.linear``, ``head``) or a glob (``backbone.*.bn.*``)."""
    return any(key == p or key.startswith(p + ".") or fnmatch.fnmatchcase(key, p) for p in patterns)


def convention(pre: Preprocess) -> str:
    """``RGB, (x - 127.5) / 127.5`` (and the upper-half-face crop): how a network's input is made."""
    return f"{pre.channels}, (x - {pre.mean:g}) / {pre.std:g}" + (", top 60 rows (crop_eye)" if pre.crop_eye else "")


def _checkpoint_convention(config: dict[str, Any]) -> Preprocess:
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    return Preprocess(**{k: data[k] for k in ("crop_eye", "channels", "mean", "std") if k in data})


def _some(keys: Sequence[str], n: int = 4) -> str:
    return ", ".join(list(keys)[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def load_init(path: str, ignore: Sequence[str], experiment: Any, backbone: Any, head: Any) -> list[str]:
    """Copy the weights of checkpoint ``path`` into ``backbone`` and ``head`` as the module docstring
    says; returns what was done, one log line each. Raises :class:`ConfigError` for a checkpoint that
    does not fit the run (naming the keys or the two input conventions)."""
    ckpt = facex_core.load_checkpoint(path)
    model, config = ckpt["model"], ckpt["config"]
    theirs, ours = _checkpoint_convention(config), facex_core.preprocess_of(experiment.data)
    if theirs != ours:
        raise ConfigError(f"training.init: {path} was trained on {convention(theirs)} input, but this run's [data] "
                          f"gives {convention(ours)}; set data.channels, data.mean, data.std and data.crop_eye to the "
                          "checkpoint's (or fine-tune from a checkpoint of this run's convention)")
    unused = [p for p in ignore if not any(listed(k, [p]) for k in model)]
    if unused:
        raise ConfigError(f"training.init_ignore: {unused[0]!r} names no weight of {path} (its keys look like "
                          f"{_some([k for k in model if k.startswith(BACKBONE)], 3)})")
    given = {k: v for k, v in model.items() if k.startswith(BACKBONE) and not listed(k, ignore)}
    if not any(k.startswith(BACKBONE) for k in model):
        raise DataError(f"training.init: {path} holds no backbone weights")
    own = {BACKBONE + k: v for k, v in backbone.state_dict().items()}
    problems = [f"{what}: {_some(keys)}" for what, keys in (
        ("missing from the checkpoint", [k for k in own if k not in given and not listed(k, ignore)]),
        ("not in this run's backbone", [k for k in given if k not in own]),
        ("of another shape", [f"{k} {tuple(given[k].shape)} vs {tuple(own[k].shape)}" for k in given
                              if k in own and given[k].shape != own[k].shape])) if keys]
    if problems:
        name = (config.get("backbone") or {}).get("name", "?")
        raise ConfigError(f"training.init: the backbone of {path} ({name}) does not fit this run's "
                          f"({experiment.backbone.name}): weights {'; '.join(problems)}. List the layers to train "
                          "afresh in training.init_ignore (e.g. ['backbone.linear', 'backbone.bn']) or use the "
                          "checkpoint's backbone settings")
    backbone.load_state_dict({k[len(BACKBONE):]: given.get(k, v) for k, v in own.items()}, strict=True)
    lines = [f"training.init: backbone weights loaded from {path} ({len(given)} tensors)"]
    dropped = sorted(k for k in model if listed(k, ignore))
    if dropped:
        lines.append(f"training.init: left out as training.init_ignore lists, trained afresh: {_some(dropped)}")
    lines.append(_load_centres(path, model, config, head, ignore))
    return lines


def _load_centres(path: str, model: dict[str, Any], config: dict[str, Any], head: Any, ignore: Sequence[str]) -> str:
    """Keep the checkpoint's class centres when the classes match; the log line says which."""
    theirs = {k[len(HEAD):]: v for k, v in model.items() if k.startswith(HEAD) and not listed(k, ignore)}
    recorded = config.get("head") if isinstance(config.get("head"), dict) else {}
    params = dict(head.named_parameters())
    # an imported checkpoint may hold centres (C × D) without a [head] record: read the counts from them
    shape = next((tuple(theirs[k].shape) for k in params if k in theirs), None)
    classes = recorded.get("num_classes", shape[0] if shape else None)
    dim = recorded.get("embedding_size", shape[-1] if shape else None)
    own = head.state_dict()
    fits = all(k in theirs and theirs[k].shape == p.shape for k, p in params.items())
    if not theirs:
        why = "training.init_ignore lists them" if any(k.startswith(HEAD) for k in model) else f"{path} holds none"
    elif (classes, dim) != (head.num_classes, head.embedding_size):
        why = f"{path} has {classes} classes × {dim}-d, this run {head.num_classes} × {head.embedding_size}-d"
    elif not fits:
        why = f"the tensors of {path}'s head do not fit this run's head (another head, sub-centres or sharding)"
    else:
        head.load_state_dict({**own, **{k: v for k, v in theirs.items() if k in own and v.shape == own[k].shape}})
        return f"training.init: class centres kept from {path} ({classes} classes × {dim}-d)"
    return f"training.init: class centres initialised afresh ({why})"
