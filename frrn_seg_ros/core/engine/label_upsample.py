"""Exact full-resolution labels from low-resolution logits, interpolating only near class boundaries.

Today's reference is ``argmax(F.interpolate(logits, size, mode="bilinear", align_corners=False))``.
Each output pixel blends the logits of (at most) four low-resolution neighbours with convex
weights. Where all four neighbours have the same arg-max class ``k`` (and with a clear margin, so
float rounding cannot flip it), every blend also has arg-max ``k``: ``l_k >= l_j`` at each
neighbour implies it for any convex combination. So the label image is the per-cell class
looked up at full resolution (a uint8 gather), and the logits are blended only in the
"boundary band": pixels whose 2x2 neighbourhood mixes classes or has a near-tie. The band uses
the same source indices and float32 weights as PyTorch's bilinear kernel.

Shapes: logits ``(C, h, w)`` float32 -> labels ``(H, W)`` uint8.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

BAND = 255  # cell marker: "interpolate here" (class ids are <= 254)
# A neighbourhood whose smallest top-1 minus top-2 margin is below this fraction of the largest
# |logit| is treated as boundary: a convex blend could only flip it through float rounding.
MARGIN_FRACTION = 1e-4


@dataclass(frozen=True)
class AxisMap:
    """Per output index along one axis: the two source indices and their float32 weights."""

    low: np.ndarray  # (n_out,) int64
    high: np.ndarray  # (n_out,) int64
    w_low: np.ndarray  # (n_out,) float32
    w_high: np.ndarray  # (n_out,) float32


@lru_cache(maxsize=32)
def axis_map(n_in: int, n_out: int) -> AxisMap:
    """Source indices / weights of PyTorch's bilinear resize (``align_corners=False``, size given)."""
    scale = np.float32(n_in) / np.float32(n_out)
    src = scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    low = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    w_high = np.clip(src - low.astype(np.float32), 0.0, 1.0).astype(np.float32)
    high = low + (low < n_in - 1)
    return AxisMap(low, high, (np.float32(1.0) - w_high).astype(np.float32), w_high)


def cell_classes(logits: torch.Tensor) -> np.ndarray:
    """``(C, h, w)`` logits -> ``(h, w)`` uint8: the class shared by the 2x2 neighbourhood whose
    top-left is each cell (clamped at the last row/column), or :data:`BAND` where it is not safe."""
    best, margin, scale = top_class_and_margin(logits.numpy())
    safe = margin > MARGIN_FRACTION * max(scale, 1e-30)
    down = np.concatenate([best[1:], best[-1:]], axis=0)
    right = np.concatenate([best[:, 1:], best[:, -1:]], axis=1)
    diag = np.concatenate([down[:, 1:], down[:, -1:]], axis=1)
    safe_down = np.concatenate([safe[1:], safe[-1:]], axis=0)
    safe_right = np.concatenate([safe[:, 1:], safe[:, -1:]], axis=1)
    safe_diag = np.concatenate([safe_down[:, 1:], safe_down[:, -1:]], axis=1)
    same = (best == down) & (best == right) & (best == diag) & safe & safe_down & safe_right & safe_diag
    return np.where(same, best, np.uint8(BAND))


def top_class_and_margin(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(C, h, w)`` float32 -> ``(h, w)`` uint8 arg-max (ties -> lowest class), ``(h, w)`` top-1
    minus top-2 margin, and the largest |logit|. A running max over class planes: reductions over
    a non-innermost axis are an order of magnitude slower in torch and numpy."""
    best_val = logits[0].copy()
    best = np.zeros(best_val.shape, dtype=np.uint8)
    second = np.full(best_val.shape, -np.inf, dtype=np.float32)
    lowest = best_val.copy()
    for index in range(1, logits.shape[0]):
        plane = logits[index]
        np.maximum(second, np.minimum(best_val, plane), out=second)
        best[plane > best_val] = index
        np.maximum(best_val, plane, out=best_val)
        np.minimum(lowest, plane, out=lowest)
    scale = max(float(np.abs(best_val).max()), float(np.abs(lowest).max())) if best_val.size else 0.0
    return best, best_val - second, scale


def upsample_labels(logits: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """``(C, h, w)`` float logits -> ``(H, W)`` uint8 labels, identical to the full bilinear argmax."""
    logits = logits.to(torch.float32)
    _, h, w = logits.shape
    height, width = size
    rows, cols = axis_map(h, height), axis_map(w, width)
    cells = cell_classes(logits)
    labels = np.take(np.take(cells, rows.low, axis=0), cols.low, axis=1)  # (H, W)
    band_y, band_x = band_pixels(cells, rows, cols)
    if band_y.size:
        labels[band_y, band_x] = _blend_argmax(logits.numpy(), rows, cols, band_y, band_x)
    return labels


def band_pixels(cells: np.ndarray, rows: AxisMap, cols: AxisMap) -> tuple[np.ndarray, np.ndarray]:
    """Output ``(ys, xs)`` of the pixels whose cell is :data:`BAND`, built from the band cells
    and the output span of each cell row / column (no scan of the full-resolution image)."""
    cell_y, cell_x = np.nonzero(cells == BAND)
    row_start, row_count = _spans(rows.low, cells.shape[0])
    col_start, col_count = _spans(cols.low, cells.shape[1])
    heights, widths = row_count[cell_y], col_count[cell_x]
    counts = heights * widths
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    owner = np.repeat(np.arange(cell_y.size), counts)
    local = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    width_of = widths[owner]
    return row_start[cell_y][owner] + local // width_of, col_start[cell_x][owner] + local % width_of


def _spans(low: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """First output index and number of output indices whose ``low`` source is each cell."""
    count = np.bincount(low, minlength=cells)
    return np.cumsum(count) - count, count


def _blend_argmax(
    logits: np.ndarray, rows: AxisMap, cols: AxisMap, ys: np.ndarray, xs: np.ndarray
) -> np.ndarray:
    """Arg-max of the bilinear blend at output pixels ``(ys, xs)``, in PyTorch's operation order:
    ``(v00 * wx0 + v01 * wx1) * wy0 + (v10 * wx0 + v11 * wx1) * wy1`` (float32, per class)."""
    classes, _, w = logits.shape
    table = logits.reshape(classes, -1)  # (C, h*w)
    y0, y1 = rows.low[ys] * w, rows.high[ys] * w
    x0, x1 = cols.low[xs], cols.high[xs]
    wy0, wy1 = rows.w_low[ys], rows.w_high[ys]
    wx0, wx1 = cols.w_low[xs], cols.w_high[xs]
    corners = [np.take(table, index, axis=1) for index in (y0 + x0, y0 + x1, y1 + x0, y1 + x1)]
    top = corners[0] * wx0 + corners[1] * wx1  # (C, B)
    bottom = corners[2] * wx0 + corners[3] * wx1
    blend = top * wy0 + bottom * wy1
    best_val = blend[0].copy()
    best = np.zeros(len(ys), dtype=np.uint8)
    for index in range(1, classes):  # first maximum wins, as torch's argmax
        better = blend[index] > best_val
        best[better] = index
        np.maximum(best_val, blend[index], out=best_val)
    return best
