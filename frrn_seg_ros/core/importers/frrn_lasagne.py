"""TobyPDE/FRRN's released ``models/frrn_a.npz`` / ``frrn_b.npz`` -> our FRRN A / B state dict.

The files are ``np.savez(*lasagne.layers.get_all_param_values(output_layers))``: arrays
``arr_0 .. arr_{N-1}`` (277 for A, 325 for B) in Lasagne's depth-first layer order, which for
the authors' builders (dltools/architectures.py, base_channels=48, lanes=32) is:

- a conv + BatchNorm: ``W``, then ``beta, gamma, mean, inv_std``;
- the stem (5x5 conv + BN), three RUs, the split (1x1 conv + BN to the 32-channel stream);
- an RU: conv1 + BN, conv2 + BN, then the 1x1 projection's ``W`` when the width changes (the sum
  lists the residual branch before the shortcut);
- an FRRU: conv1 + BN, conv2 + BN, then the 1x1 conv to the residual stream, ``W`` and ``b``;
- the 17 (A) / 21 (B) FRRUs in order, three output RUs, the classifier ``W`` and ``b``.

Conversions: Lasagne's Conv2DLayer convolves (``flip_filters=True``), PyTorch correlates, so each
kernel is flipped in both spatial axes. BatchNorm stores ``inv_std = 1 / sqrt(var + 1e-4)``
(Lasagne's epsilon); ours computes ``1 / sqrt(running_var + eps)``, so
``running_var = 1 / inv_std**2 - eps``, which gives the same normalisation exactly.
Inputs: RGB in [0, 1]; A was trained at quarter resolution, B at half (``input_downsample``).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import ImportedWeights, WeightsImportError, shape_error

#: architecture -> (number of arrays, input subsampling it was trained at, the paper's Cityscapes
#: mIoU: A 65.7 % val (sec. 5.1) and 63.0 % test, B 71.8 % test (Table 2; no val figure given)
RELEASED = {
    "frrn_a": (277, 4, {"cityscapes_val": 65.7, "cityscapes_test": 63.0}),
    "frrn_b": (325, 2, {"cityscapes_test": 71.8}),
}
BN_ARRAYS = ("beta", "gamma", "mean", "inv_std")


@dataclass(frozen=True)
class Slot:
    """One Lasagne array: the state-dict entry it becomes and how (``conv``, ``bias`` or a BN field)."""

    key: str
    kind: str


def lasagne_order(model: nn.Module) -> list[Slot]:
    """The arrays of ``model`` (our FRRN) in the order the authors' Lasagne network lists them."""
    slots: list[Slot] = []

    def conv_bn(prefix: str) -> None:  # our ConvBNReLU / conv_bn: .0 conv, .1 BatchNorm
        slots.append(Slot(f"{prefix}.0.weight", "conv"))
        slots.extend(Slot(f"{prefix}.1", kind) for kind in BN_ARRAYS)

    def ru(prefix: str, unit: nn.Module) -> None:
        conv_bn(f"{prefix}.conv1")
        conv_bn(f"{prefix}.conv2")
        if isinstance(unit.shortcut, nn.Conv2d):
            slots.append(Slot(f"{prefix}.shortcut.weight", "conv"))

    conv_bn("stem")
    for i, unit in enumerate(model.input_units):
        ru(f"input_units.{i}", unit)
    conv_bn("split")
    for part in ("encoder", "decoder"):
        for s, stage in enumerate(getattr(model, part)):
            for u in range(len(stage.units)):
                prefix = f"{part}.{s}.units.{u}"
                conv_bn(f"{prefix}.conv1")
                conv_bn(f"{prefix}.conv2")
                slots.append(Slot(f"{prefix}.to_residual.weight", "conv"))
                slots.append(Slot(f"{prefix}.to_residual.bias", "bias"))
    for i, unit in enumerate(model.output_units):
        ru(f"output_units.{i}", unit)
    slots += [Slot("classifier.weight", "conv"), Slot("classifier.bias", "bias")]
    return slots


def read_npz_arrays(path: Path) -> list[np.ndarray]:
    """``arr_0 .. arr_{N-1}`` of an ``np.savez`` file, in index order (no pickles allowed)."""
    if not zipfile.is_zipfile(path):
        raise WeightsImportError(f"{path} is truncated or corrupt (not an .npz zip archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            indices = sorted(int(n[4:]) for n in names if n.startswith("arr_") and n[4:].isdigit())
            other = sorted(set(names) - {f"arr_{i}" for i in indices})
            if other:
                raise WeightsImportError(f"{path}: unexpected entries {other[:5]} (only arr_0..arr_N)")
            if indices != list(range(len(indices))):
                gap = next(i for i, k in enumerate(indices) if i != k)
                raise WeightsImportError(f"{path}: array arr_{gap} is missing")
            return [npz[f"arr_{i}"] for i in indices]
    except WeightsImportError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise WeightsImportError(f"{path}: holds pickled objects, refused (plain arrays only)") from None
        raise WeightsImportError(f"{path} is truncated or corrupt ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise WeightsImportError(f"{path} is truncated or corrupt ({type(exc).__name__}: {exc})") from None


def convert(path: Path, architecture: str | None) -> ImportedWeights:
    """Read the authors' ``.npz`` for ``architecture`` (``frrn_a`` / ``frrn_b``) into our state dict."""
    from ..models import build_model

    if architecture not in RELEASED:
        raise WeightsImportError(f"--arch must be frrn_a or frrn_b for frrn-lasagne, got {architecture!r}")
    arrays = read_npz_arrays(path)
    count, downsample, miou = RELEASED[architecture]
    if len(arrays) != count:
        other = [a for a, (n, _, _) in RELEASED.items() if n == len(arrays)]
        hint = f" (that is the count of {other[0]}: use --arch {other[0]})" if other else ""
        raise WeightsImportError(f"{path}: {len(arrays)} arrays, expected {count} for {architecture}{hint}")
    model = build_model(architecture)
    own = model.state_dict()
    slots = lasagne_order(model)
    assert len(slots) == count, "our FRRN and the authors' Lasagne network differ in layer count"
    state: dict[str, torch.Tensor] = {}
    for index, (slot, array) in enumerate(zip(slots, arrays, strict=True)):
        _convert_array(index, slot, array, own, state)
    for key, value in own.items():  # BN's num_batches_tracked: Lasagne keeps no such counter
        state.setdefault(key, torch.zeros_like(value))
    return ImportedWeights(
        architecture,
        state,
        {
            "paper_miou": miou,
            "input_downsample": downsample,
            "source_layout": f"Lasagne parameter arrays arr_0..arr_{count - 1}",
        },
    )


def _convert_array(
    index: int, slot: Slot, array: np.ndarray, own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]
) -> None:
    where = f"array arr_{index} ({slot.key}{'' if slot.kind in ('conv', 'bias') else '.' + slot.kind})"
    if not np.issubdtype(array.dtype, np.floating):
        raise WeightsImportError(f"{where}: dtype {array.dtype}, expected floating point")
    if slot.kind in ("conv", "bias"):
        expected = tuple(own[slot.key].shape)
        if array.shape != expected:
            raise shape_error(where, expected, array.shape)
        value = array[..., ::-1, ::-1] if slot.kind == "conv" else array
        state[slot.key] = torch.from_numpy(np.array(value, dtype=np.float32, order="C", copy=True))
        return
    expected = tuple(own[f"{slot.key}.weight"].shape)
    if array.shape != expected:
        raise shape_error(where, expected, array.shape)
    values = array.astype(np.float64)
    if slot.kind == "inv_std":
        if not (np.isfinite(values).all() and (values > 0).all()):
            raise WeightsImportError(f"{where}: inv_std must be finite and positive")
        eps = _BN_EPS
        var = 1.0 / values**2 - eps
        if (var <= 0).any():
            raise WeightsImportError(f"{where}: inv_std {values.max():.4g} implies a variance below {eps}")
        state[f"{slot.key}.running_var"] = torch.from_numpy(var.astype(np.float32))
        return
    target = {"beta": "bias", "gamma": "weight", "mean": "running_mean"}[slot.kind]
    state[f"{slot.key}.{target}"] = torch.from_numpy(values.astype(np.float32))


_BN_EPS = nn.BatchNorm2d(1).eps  # our BatchNorm's epsilon (1e-5)
