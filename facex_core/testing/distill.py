"""Checks for ``distill_loss`` components against an independent per-sample computation."""
from __future__ import annotations

from typing import Any, Callable

import torch


def check_distill_loss_matches_reference(loss: Any, student: Any, teacher: Any, reference: Callable[..., Any],
                                         rtol: float = 1e-7, atol: float = 1e-9, **kwargs: Any) -> torch.Tensor:
    """``loss(student, teacher, **kwargs)`` equals ``reference(student, teacher)`` (a per-sample loop from the
    paper's formula) in value and in every student gradient, and no gradient reaches the teacher side.
    Each side is a tensor or a sequence of tensors (FSP); returns the loss value."""
    def leaves(x: Any) -> Any:
        if isinstance(x, (list, tuple)):
            return [v.detach().clone().requires_grad_(True) for v in x]
        return x.detach().clone().requires_grad_(True)

    def grads(x: Any) -> list[Any]:
        return [v.grad for v in x] if isinstance(x, list) else [x.grad]

    s1, t1, s2, t2 = leaves(student), leaves(teacher), leaves(student), leaves(teacher)
    value = loss(s1, t1, **kwargs)
    assert value.dim() == 0 and torch.isfinite(value), f"expected a finite scalar, got {value}"
    value.backward()
    expected = reference(s2, t2)
    expected.backward()
    torch.testing.assert_close(value.detach(), expected.detach(), rtol=rtol, atol=atol)
    for got, want in zip(grads(s1), grads(s2)):
        assert got is not None and float(got.abs().sum()) > 0, "no gradient reached the student"
        torch.testing.assert_close(got, want, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9))
    assert all(g is None for g in grads(t1)), "the teacher side must not receive gradients"
    return value
