"""Window geometry of (shifted-)window attention: sizes, partitioning, relative positions, masks.

Everything here depends only on a stage's token grid and the window size, both fixed when the
network is built, so the masks and index tables are computed once and stored as buffers; the
forward pass then has no shape-dependent Python branches (which keeps ``torch.export`` and ONNX
export static). The batch axis is always left to ``-1`` so that exported graphs keep it dynamic.

Grids that are not a multiple of the window (any input other than 224×224) are zero-padded on the
bottom/right; the mask keeps real tokens from attending to padding, so padding never changes the
output for the real tokens.
"""
from __future__ import annotations

import torch

#: Additive attention logit for forbidden (query, key) pairs, the value of the original Swin: large
#: enough to zero the softmax weight, small enough to stay finite in float16.
MASKED_LOGIT = -100.0


def window_shape(grid: tuple[int, int], window_size: int) -> tuple[int, int]:
    """Window ``(wh, ww)`` used on a ``grid``: ``window_size``, clipped to the grid on each axis.

    At 224×224 the last stage's 7×7 grid is one 7×7 window, as in Swin.
    """
    return min(window_size, grid[0]), min(window_size, grid[1])


def shift_shape(grid: tuple[int, int], window_size: int) -> tuple[int, int]:
    """Cyclic shift ``(sh, sw)`` of a shifted-window block: half a window along each axis the grid
    has more than one window on, else 0 (shifting a single window only wraps it onto itself)."""
    return tuple(window_size // 2 if side > window_size else 0 for side in grid)  # type: ignore[return-value]


def padded_shape(grid: tuple[int, int], window: tuple[int, int]) -> tuple[int, int]:
    """The grid rounded up to whole windows."""
    return tuple(-(-side // w) * w for side, w in zip(grid, window))  # type: ignore[return-value]


def partition(x: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """``B×Hp×Wp×C`` → ``(B·nW)×(wh·ww)×C``: windows batch-major, then row-major over the grid."""
    _, hp, wp, c = x.shape
    wh, ww = window
    x = x.reshape(-1, hp // wh, wh, wp // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh * ww, c)


def unpartition(windows: torch.Tensor, window: tuple[int, int], padded: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`partition`: ``(B·nW)×(wh·ww)×C`` → ``B×Hp×Wp×C``."""
    wh, ww = window
    hp, wp = padded
    c = windows.shape[-1]
    x = windows.reshape(-1, hp // wh, wp // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, hp, wp, c)


def relative_position_index(window: tuple[int, int]) -> torch.Tensor:
    """``N×N`` (N = wh·ww) index into the ``(2wh−1)(2ww−1)`` relative-position bias table.

    Entry ``(i, j)`` encodes the offset of token ``j`` from token ``i`` as
    ``(dh + wh − 1)·(2ww − 1) + (dw + ww − 1)`` (the Swin paper's relative position bias B, Eq. 4).
    """
    wh, ww = window
    rows = torch.arange(wh).repeat_interleave(ww)
    cols = torch.arange(ww).repeat(wh)
    dh = rows[:, None] - rows[None, :] + wh - 1
    dw = cols[:, None] - cols[None, :] + ww - 1
    return dh * (2 * ww - 1) + dw


def attention_mask(grid: tuple[int, int], window: tuple[int, int],
                   shift: tuple[int, int]) -> torch.Tensor | None:
    """``nW×N×N`` additive mask (0 or :data:`MASKED_LOGIT`) for the windows of a shifted and/or
    padded grid; ``None`` when neither applies (every pair may attend).

    A shifted window can hold tokens from up to four regions of the image that are not neighbours
    (the cyclic shift wrapped them around); padding adds tokens that are not part of the image.
    Tokens attend only to tokens of the same region and the same real/padding kind.
    """
    padded = padded_shape(grid, window)
    if padded == tuple(grid) and not any(shift):
        return None
    hp, wp = padded
    # regions of the shifted frame: the last `window` rows split at `shift` (as in Swin)
    region = torch.zeros(hp, wp)
    label = 0
    for rows in _bands(hp, window[0], shift[0]):
        for cols in _bands(wp, window[1], shift[1]):
            region[rows, cols] = label
            label += 1
    is_padding = torch.zeros(hp, wp)
    is_padding[grid[0]:, :] = 1.0
    is_padding[:, grid[1]:] = 1.0
    # padding is defined in the image frame; bring it into the shifted frame
    is_padding = torch.roll(is_padding, shifts=(-shift[0], -shift[1]), dims=(0, 1))
    labels = partition((region * 2 + is_padding)[None, :, :, None], window).squeeze(-1)  # nW × N
    different = labels[:, :, None] != labels[:, None, :]
    return torch.zeros(different.shape).masked_fill(different, MASKED_LOGIT)


def _bands(length: int, window: int, shift: int) -> list[slice]:
    """Slices of one axis of the shifted frame that hold image-contiguous tokens."""
    if shift == 0:
        return [slice(0, length)]
    return [slice(0, length - window), slice(length - window, length - shift), slice(length - shift, length)]
