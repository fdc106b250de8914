"""Exact full-resolution labels from low-resolution logits, interpolating only near class boundaries.

Today's reference is ``argmax(F.interpolate(logits, size, mode="bilinear", align_corners=False))``.
Each output pixel blends the logits of (at most) four low-resolution neighbours with convex
weights. Where all four neighbours have the same arg-max class ``k`` (and with a clear margin, so
float rounding cannot flip it), every blend also has arg-max ``k``: ``l_k >= l_j`` at each
neighbour implies it for any convex combination. So the label image is the per-cell class
repeated over each cell's block of output pixels, and the logits are blended only in the
"boundary band": pixels whose 2x2 neighbourhood mixes classes or has a near-tie. The band uses
the same source indices and float32 weights as PyTorch's bilinear kernel, one block of output
pixels per band cell (all the pixels whose four source neighbours are that cell's). The result
equals the full upsample's argmax except where its two best classes are within float rounding of
each other (about 1e-7 of the largest logit): there PyTorch's fused multiply-adds decide, and two
PyTorch builds on different CPUs may disagree as well.

The colour image, when asked for, comes from the same cells: their colours repeated likewise,
the band blocks coloured from their blended labels.

Shapes: logits ``(C, h, w)`` float32 -> labels ``(H, W)`` uint8 (and colour ``(H, W, 3)`` uint8).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..labels import colorize

BAND = 255  # cell marker: "interpolate here" (class ids are <= 254)
# A neighbourhood whose smallest top-1 minus top-2 margin is below this fraction of the largest
# |top-1 logit| S is treated as boundary: a convex blend could only flip it through float rounding.
# Enough: with class k on top by >= margin at all four corners, every value a blend of k or of a
# rival j sums is at most S + (its corner's gap) in size, so the blends' rounding (a few float32
# steps, 6e-8 each) stays below 1e-6 S + 2e-7 x gap, far under the gap itself.
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
    # scale * (i + 0.5) - 0.5 rounded once to float32, as PyTorch's kernel computes it with a fused
    # multiply-add on x86 CPUs with FMA (the weights then equal its weights bit for bit)
    src = (np.float64(scale) * (np.arange(n_out, dtype=np.float64) + 0.5) - 0.5).astype(np.float32)
    src = np.maximum(src, np.float32(0.0))
    low = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    w_high = np.clip(src - low.astype(np.float32), 0.0, 1.0).astype(np.float32)
    high = low + (low < n_in - 1)
    return AxisMap(low, high, (np.float32(1.0) - w_high).astype(np.float32), w_high)


def cell_classes(logits: np.ndarray) -> np.ndarray:
    """``(C, h, w)`` float32 logits -> ``(h, w)`` uint8: the class shared by the 2x2 neighbourhood
    whose top-left is each cell (clamped at the last row/column), or :data:`BAND` where it is not safe."""
    best = clear_top_class(logits)
    down = np.concatenate([best[1:], best[-1:]], axis=0)
    right = np.concatenate([best[:, 1:], best[:, -1:]], axis=1)
    diag = np.concatenate([down[:, 1:], down[:, -1:]], axis=1)
    same = (best == down) & (best == right) & (best == diag)  # a BAND cell stays BAND
    return np.where(same, best, np.uint8(BAND))


def clear_top_class(logits: np.ndarray) -> np.ndarray:
    """``(C, h, w)`` float32 -> ``(h, w)`` uint8: the arg-max class where it leads every other class
    by more than ``MARGIN_FRACTION`` of the largest |top logit|, else :data:`BAND`.

    Counted instead of sorted: the classes within the margin of the maximum are exactly one (the
    arg-max) where the lead is clear. numpy's reductions over the leading (class) axis run plane by
    plane, vectorised along the rows; an ``argmax`` over that axis would be 10x slower, torch's
    comparison and sums 2x.
    """
    highest = logits.max(axis=0)  # (h, w)
    if highest.size == 0:
        return highest.astype(np.uint8)
    scale = max(float(np.abs(highest).max()), 1e-30)  # S: the largest |top logit|
    near = (logits >= highest - np.float32(MARGIN_FRACTION * scale)).view(np.uint8)  # (C, h, w): 0 / 1
    count = near.sum(axis=0, dtype=np.uint8)  # wraps only above 255 classes: C <= 255 here
    ids = np.arange(logits.shape[0], dtype=np.uint8)[:, None, None]
    index = (near * ids).sum(axis=0, dtype=np.uint8)  # the class where count == 1
    return np.where(count == 1, index, np.uint8(BAND))


def upsample_labels(logits: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """``(C, h, w)`` float logits -> ``(H, W)`` uint8 labels: the full bilinear argmax (see above)."""
    return upsample_labels_and_colors(logits, size)[0]


def upsample_labels_and_colors(
    logits: torch.Tensor, size: tuple[int, int], palette: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`upsample_labels`, and with a ``(256, 3)`` uint8 ``palette`` the ``(H, W, 3)`` uint8
    colour image ``palette[labels]``, built from the same cell grid: the cells are widened to the
    output width, coloured at that height ``h`` and repeated row by row (whole rows copied), then
    the band blocks written in both images (cheaper than a lookup per output pixel)."""
    table = np.ascontiguousarray(logits.detach().to(torch.float32).cpu().numpy())  # (C, h, w)
    _, h, w = table.shape
    height, width = size
    rows, cols = axis_map(h, height), axis_map(w, width)
    cells = cell_classes(table)
    row_start, row_count = _spans(rows.low, h)
    col_start, col_count = _spans(cols.low, w)
    wide = np.repeat(cells, col_count, axis=1)  # (h, W): columns first, the per-item repeat on h rows
    labels = np.repeat(wide, row_count, axis=0)  # (H, W)
    color = None if palette is None else np.repeat(colorize(wide, palette), row_count, axis=0)  # (H, W, 3)
    if color is not None:
        pixels = color.reshape(-1, 3).view("V3")  # (H*W, 1) views of the image, one item per pixel
        colors = np.ascontiguousarray(palette, dtype=np.uint8).view("V3").ravel()  # (256,)
    table = table.reshape(table.shape[0], h * w)  # (C, h*w)
    for ys, xs in _band_blocks(cells, row_start, row_count, col_start, col_count):
        where = (ys[:, None, :] * width + xs[None, :, :]).ravel()  # flat output pixels, (bh, bw, B) order
        block = _blend_block_argmax(table, w, rows, cols, ys, xs).ravel()
        labels.ravel()[where] = block  # ravel: a view of the contiguous image
        if color is not None:  # one 3-byte item per pixel: a scatter of (N, 3) rows is 2x slower
            pixels.ravel()[where] = colors[block]
    return labels, color


def _band_blocks(
    cells: np.ndarray, row_start: np.ndarray, row_count: np.ndarray, col_start: np.ndarray,
    col_count: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Output rows ``(bh, B)`` and columns ``(bw, B)`` of the band cells' blocks, in (at most) two
    groups: the most common block shape, and all others padded to their largest shape by repeating
    a block's last row / column (the same pixel computed twice, written twice with one value)."""
    cell_y, cell_x = np.nonzero(cells == BAND)
    heights, widths = row_count[cell_y], col_count[cell_x]
    visible = (heights > 0) & (widths > 0)  # when shrinking, some cells own no output pixel
    cell_y, cell_x, heights, widths = cell_y[visible], cell_x[visible], heights[visible], widths[visible]
    if cell_y.size == 0:
        return []
    shape = heights * (int(widths.max()) + 1) + widths
    keys, counts = np.unique(shape, return_counts=True)
    main = shape == keys[counts.argmax()]
    groups = []
    for pick in (main, ~main):
        if pick.any():
            block_h, block_w = int(heights[pick].max()), int(widths[pick].max())
            ys = row_start[cell_y[pick]] + np.minimum(np.arange(block_h)[:, None], heights[pick] - 1)
            xs = col_start[cell_x[pick]] + np.minimum(np.arange(block_w)[:, None], widths[pick] - 1)
            groups.append((ys, xs))
    return groups


def _spans(low: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """First output index and number of output indices whose ``low`` source is each cell."""
    count = np.bincount(low, minlength=cells)
    return np.cumsum(count) - count, count


def _blend_block_argmax(
    table: np.ndarray, w: int, rows: AxisMap, cols: AxisMap, ys: np.ndarray, xs: np.ndarray
) -> np.ndarray:
    """Arg-max of the bilinear blend over ``B`` blocks of output pixels that share their four source
    cells: ``table`` ``(C, h*w)`` float32 logits, ``ys`` ``(bh, B)`` / ``xs`` ``(bw, B)`` output
    indices -> ``(bh, bw, B)`` uint8 (blocks last: every array operation runs along ``B``).

    PyTorch's operation order, in float32 per class:
    ``(v00 * wx0 + v01 * wx1) * wy0 + (v10 * wx0 + v11 * wx1) * wy1``; the first maximum wins, as
    torch's argmax. Only the candidate classes are blended: a convex blend of class ``k`` is at most
    its largest corner value, and the winner's blend is at least its smallest corner value, so a
    class whose largest corner is below ``T = max_j min_corners l_j`` (less a float margin) cannot
    win. The ``K`` candidates are taken in class order (blocks with fewer repeat their first one), and
    a later one replaces the best only when strictly greater, so ties still go to the lowest class.
    """
    classes, blocks = table.shape[0], ys.shape[1]
    y0, y1 = rows.low[ys[0]] * w, rows.high[ys[0]] * w  # (B,) the blocks' source rows
    x0, x1 = cols.low[xs[0]], cols.high[xs[0]]
    index = np.concatenate([y0 + x0, y0 + x1, y1 + x0, y1 + x1])  # (4B,)
    corners = np.take(table, index, axis=1).reshape(classes, 4, blocks)  # (C, 4, B)
    highest, lowest = corners.max(axis=1), corners.min(axis=1)  # (C, B)
    scale = np.maximum(np.maximum(highest.max(axis=0), -lowest.min(axis=0)), np.float32(1e-30))  # max |logit|
    candidate = highest >= lowest.max(axis=0) - np.float32(MARGIN_FRACTION) * scale  # (C, B): >= T - margin
    per_block = candidate.sum(axis=0)  # (B,) >= 1: the class that attains T is one
    keep = int(per_block.max())
    block, cls = np.nonzero(candidate.T)  # block by block, classes ascending
    first = np.cumsum(per_block) - per_block  # each block's first entry in ``cls``
    ids = np.repeat(cls[first][None], keep, axis=0)  # (K, B)
    ids[np.arange(block.size) - first[block], block] = cls
    values = np.take_along_axis(corners, ids[:, None, :], axis=0)  # (K, 4, B)
    v00, v01, v10, v11 = np.ascontiguousarray(values.transpose(1, 0, 2))[:, :, None, None, :]  # (K, 1, 1, B)
    wx0, wx1 = cols.w_low[xs][None], cols.w_high[xs][None]  # (1, bw, B)
    wy0, wy1 = rows.w_low[ys][:, None], rows.w_high[ys][:, None]  # (bh, 1, B)
    top = v00 * wx0
    top += v01 * wx1  # (K, 1, bw, B)
    bottom = v10 * wx0
    bottom += v11 * wx1
    blend = top * wy0
    blend += bottom * wy1  # (K, bh, bw, B)
    best_value, class_ids = blend[0], ids.astype(np.uint8)
    best = np.broadcast_to(class_ids[0], best_value.shape).copy()  # (bh, bw, B)
    for k in range(1, keep):
        better = blend[k] > best_value
        np.copyto(best_value, blend[k], where=better)
        np.copyto(best, class_ids[k], where=better)
    return best
