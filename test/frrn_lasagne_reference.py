"""Test-only: the authors' FRRN (TobyPDE/FRRN dltools/architectures.py) run from Lasagne's arrays.

Written from their builders, independently of our model and importer: it walks the positional
arrays in the order Lasagne lists them and computes what Theano computes: true convolutions
(``flip_filters=True``, done here as a transposed convolution, no explicit flip), BatchNorm as
``(x - mean) * gamma * inv_std + beta``, Theano's ``bilinear_upsampling`` as its own algorithm
(edge pad, stride-2 transposed convolution with [0.5, 1, 0.5], border 3), nearest ``Upscale2D``.
Also :func:`authors_shapes`, the array shapes their builders create, and :func:`random_arrays`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

BASE, LANES, CLASSES = 48, 32, 19
# (pooling factor, channel multiplier) of each FRRU, in build order; multiplier 2 ** k
FRRUS_A = (
    [(2, 2)] * 3 + [(4, 4)] * 4 + [(8, 8)] * 2 + [(16, 8)] * 2 + [(8, 4)] * 2 + [(4, 4)] * 2 + [(2, 2)] * 2
)
FRRUS_B = (
    [(2, 2)] * 3
    + [(4, 4)] * 4
    + [(8, 8)] * 2
    + [(16, 8)] * 2
    + [(32, 8)] * 2
    + [(16, 4)] * 2
    + [(8, 4)] * 2
    + [(4, 4)] * 2
    + [(2, 2)] * 2
)


def _frrus(arch: str) -> list[tuple[int, int]]:
    return FRRUS_A if arch == "frrn_a" else FRRUS_B


def authors_shapes(arch: str) -> list[tuple[str, tuple[int, ...]]]:
    """``(kind, shape)`` of ``arr_0 .. arr_N`` as the authors' builder creates them.

    kind: ``W`` (kernel), ``b`` (bias), or the BatchNorm's ``beta``, ``gamma``, ``mean``, ``inv_std``.
    """
    shapes: list[tuple[str, tuple[int, ...]]] = []

    def conv(cin: int, cout: int, k: int, bn: bool = True, bias: bool = False) -> None:
        shapes.append(("W", (cout, cin, k, k)))
        if bias:
            shapes.append(("b", (cout,)))
        if bn:
            shapes.extend((kind, (cout,)) for kind in ("beta", "gamma", "mean", "inv_std"))

    def ru(cin: int, cout: int) -> None:
        conv(cin, cout, 3)
        conv(cout, cout, 3)
        if cin != cout:
            conv(cin, cout, 1, bn=False)

    conv(3, BASE, 5)
    for _ in range(3):
        ru(BASE, BASE)
    conv(BASE, LANES, 1)
    channels = BASE
    for _pool, mult in _frrus(arch):
        out = BASE * mult
        conv(channels + LANES, out, 3)
        conv(out, out, 3)
        conv(out, LANES, 1, bn=False, bias=True)
        channels = out
    ru(channels + LANES, BASE)
    ru(BASE, BASE)
    ru(BASE, BASE)
    conv(BASE, CLASSES, 1, bn=False, bias=True)
    return shapes


def random_arrays(arch: str, seed: int = 0) -> list[np.ndarray]:
    """Arrays of the authors' shapes: He-scaled kernels, random biases and BatchNorm statistics."""
    rng = np.random.default_rng(seed)
    arrays = []
    for kind, shape in authors_shapes(arch):
        if kind == "W":
            value = rng.normal(0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        elif kind == "gamma":
            value = rng.uniform(0.8, 1.2, shape)
        elif kind == "inv_std":
            value = 1.0 / np.sqrt(rng.uniform(0.5, 2.0, shape) + 1e-4)  # Lasagne's epsilon
        else:  # b, beta, mean
            value = rng.normal(0, 0.1, shape)
        arrays.append(value.astype(np.float32))
    return arrays


class _Arrays:
    """A cursor over the positional arrays, checking each shape on the way."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = [torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in arrays]
        self.i = 0

    def take(self) -> torch.Tensor:
        self.i += 1
        return self.arrays[self.i - 1]


def _true_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Theano's conv2d with filter flipping, 'same' padding: a transposed conv of the swapped kernel."""
    k = w.shape[-1]
    return F.conv_transpose2d(x, w.transpose(0, 1), padding=(k - 1) // 2)


def _add_conv(
    net: _Arrays, x: torch.Tensor, relu: bool = True, bn: bool = True, bias: bool = False
) -> torch.Tensor:
    x = _true_conv(x, net.take())
    if bias:
        x = x + net.take().view(1, -1, 1, 1)
    if bn:
        beta, gamma, mean, inv_std = (net.take().view(1, -1, 1, 1) for _ in range(4))
        x = (x - mean) * (gamma * inv_std) + beta
    return torch.relu(x) if relu else x


def _add_ru(net: _Arrays, x: torch.Tensor, cin: int, cout: int) -> torch.Tensor:
    y = _add_conv(net, x)
    y = _add_conv(net, y, relu=False)
    shortcut = _add_conv(net, x, relu=False, bn=False) if cin != cout else x
    return y + shortcut


def theano_bilinear_upsampling_x2(x: torch.Tensor) -> torch.Tensor:
    """Theano's algorithm: pad 1 replicated row/col each side, stride-2 transposed conv of [.5, 1, .5]."""
    n, c, h, w = x.shape
    kern = torch.tensor([0.5, 1.0, 0.5], dtype=x.dtype)
    flat = x.reshape(n * c, 1, h, w)
    padded = torch.cat([flat[:, :, :1], flat, flat[:, :, -1:]], dim=2)
    padded = torch.cat([padded[:, :, :, :1], padded, padded[:, :, :, -1:]], dim=3)
    rows = F.conv_transpose2d(
        padded, kern.view(1, 1, 3, 1), stride=(2, 1), padding=(3, 0), output_padding=(1, 0)
    )
    out = F.conv_transpose2d(
        rows, kern.view(1, 1, 1, 3), stride=(1, 2), padding=(0, 3), output_padding=(0, 1)
    )
    return out.reshape(n, c, 2 * h, 2 * w)


def authors_forward(arrays: list[np.ndarray], x: torch.Tensor, arch: str) -> torch.Tensor:
    """The authors' network (before its log-softmax) on ``x`` [N,3,H,W] RGB in [0,1] (float64)."""
    net = _Arrays(arrays)
    x = x.double()
    y = _add_conv(net, x)
    for _ in range(3):
        y = _add_ru(net, y, BASE, BASE)
    z = _add_conv(net, y, relu=False)
    channels, previous_pool = BASE, 1
    for pool, mult in _frrus(arch):
        if pool > previous_pool:
            y = F.max_pool2d(y, 2, 2)
        elif pool < previous_pool:
            y = theano_bilinear_upsampling_x2(y)
        previous_pool = pool
        t = torch.cat([y, F.max_pool2d(z, pool, pool)], dim=1)
        y = _add_conv(net, _add_conv(net, t))
        r = _add_conv(net, y, relu=False, bn=False, bias=True)
        z = z + r.repeat_interleave(pool, dim=2).repeat_interleave(pool, dim=3)
        channels = BASE * mult
    y = theano_bilinear_upsampling_x2(y)
    out = _add_ru(net, torch.cat([y, z], dim=1), channels + LANES, BASE)
    out = _add_ru(net, out, BASE, BASE)
    out = _add_ru(net, out, BASE, BASE)
    out = _add_conv(net, out, relu=False, bn=False, bias=True)
    assert net.i == len(net.arrays), f"{len(net.arrays) - net.i} arrays left unused"
    return out
