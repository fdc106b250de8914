"""The self-describing checkpoint format: one file holds the weights and everything needed to use them.

A checkpoint is data, never code. Two containers are accepted:

- ``*.pt`` / ``*.pth``: a ``torch.save`` dict ``{"format", "format_version", "meta", "state_dict"}``
  read back with ``torch.load(weights_only=True)``; a pickle that tries to build anything other
  than tensors and plain containers is refused.
- ``*.safetensors``: the weights, with the metadata as JSON under the header key ``frrn_seg_ros``.

The metadata (:class:`CheckpointMeta`) carries the architecture, the classes (names, colours),
the input scaling (mean/std applied to RGB in [0, 1]), and training provenance, so the node and
the training code can never disagree on how a model is fed.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .files import atomic_write
from .labels import CITYSCAPES, LabelSet
from .models.info import IMAGENET_MEAN, IMAGENET_STD, UNIT_MEAN, UNIT_STD
from .safe_load import CheckpointError, torch_load_error, torch_load_weights_only

FORMAT_NAME = "frrn_seg_ros"
FORMAT_VERSION = 1

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "UNIT_MEAN", "UNIT_STD", "CheckpointError", "CheckpointMeta",
    "default_meta", "file_sha256", "load_checkpoint", "load_model", "load_state_dict_checked",
    "save_checkpoint", "torch_load_error", "torch_load_weights_only",
]

@dataclass
class CheckpointMeta:
    """Everything a checkpoint says about itself besides the weights.

    ``mean``/``std`` apply to RGB scaled to [0, 1]: ``x = (rgb / 255 - mean) / std``.
    ``provenance`` holds training facts: dataset, recipe, iterations, miou, ... (plain data).
    """

    architecture: str
    num_classes: int
    class_names: list[str]
    class_colors: list[list[int]]
    mean: tuple[float, float, float] = UNIT_MEAN
    std: tuple[float, float, float] = UNIT_STD
    provenance: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.architecture, str):
            raise _bad_field("architecture", self.architecture, "a string")
        self.num_classes = _as_int("num_classes", self.num_classes, minimum=1)
        self.format_version = _as_int("format_version", self.format_version, minimum=1)
        self.mean = _triple("mean", self.mean)  # type: ignore[assignment]
        self.std = _triple("std", self.std)  # type: ignore[assignment]
        names, colors = _as_list(self.class_names), _as_list(self.class_colors)
        if names is None or not all(isinstance(n, str) for n in names):
            raise _bad_field("class_names", self.class_names, "a list of strings")
        if colors is None:
            raise _bad_field("class_colors", self.class_colors, "a list of [r, g, b]")
        self.class_names = names
        self.class_colors = [list(_triple("class_colors", c, rgb=True)) for c in colors]
        if not isinstance(self.provenance, dict):
            raise _bad_field("provenance", self.provenance, "a dict")
        if len(self.class_names) != self.num_classes or len(self.class_colors) != self.num_classes:
            raise CheckpointError(
                f"checkpoint metadata lists {len(self.class_names)} names and "
                f"{len(self.class_colors)} colours for num_classes={self.num_classes}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The metadata as JSON data (numpy values made plain); anything else -> CheckpointError."""
        return {k: _plain(v, k) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointMeta:
        """Metadata from a dict read from a file; wrong or missing fields -> CheckpointError."""
        if not isinstance(data, dict):
            raise CheckpointError(f"checkpoint metadata is a {type(data).__name__}, not a dict")
        required = ("architecture", "num_classes", "class_names", "class_colors")
        missing = [key for key in required if key not in data]
        if missing:
            raise CheckpointError(f"checkpoint metadata lacks {missing}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _bad_field(name: str, value: Any, expected: str) -> CheckpointError:
    return CheckpointError(f"checkpoint metadata field {name!r} must be {expected}, got {value!r:.80}")


def _as_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise _bad_field(name, value, f"an integer >= {minimum}")
    return int(value)


def _as_list(value: Any) -> list | None:
    value = value.tolist() if isinstance(value, np.ndarray) else value
    return list(value) if isinstance(value, list | tuple) else None


def _triple(name: str, value: Any, rgb: bool = False) -> tuple:
    """Three floats (``mean``/``std``) or, with ``rgb``, three ints in 0..255."""
    v, kind = _as_list(value), numbers.Integral if rgb else numbers.Real
    if v is None or len(v) != 3 or not all(
        isinstance(x, kind) and not isinstance(x, bool) and (not rgb or 0 <= x <= 255) for x in v
    ):
        raise _bad_field(name, value, "[r, g, b] integers in 0..255" if rgb else "three numbers (R, G, B)")
    return tuple(int(x) if rgb else float(x) for x in v)


def _plain(value: Any, where: str) -> Any:
    """``value`` as JSON data (numpy scalars/arrays -> Python); anything else -> CheckpointError."""
    if isinstance(value, np.ndarray | np.generic):
        value = value.tolist()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise CheckpointError(f"checkpoint metadata {where} has a non-string key {bad[0]!r}")
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    raise CheckpointError(
        f"checkpoint metadata {where} is a {type(value).__name__} ({value!r:.60}), which cannot be "
        "stored as plain data: use str, int, float, bool, None, lists and dicts"
    )


def default_meta(
    architecture: str, label_set: LabelSet = CITYSCAPES, **provenance: Any
) -> CheckpointMeta:
    """Metadata for ``architecture`` on ``label_set`` with the architecture's input scaling."""
    from .models import architecture_info

    info = architecture_info(architecture)
    return CheckpointMeta(
        architecture=architecture, num_classes=label_set.num_classes, class_names=label_set.names,
        class_colors=label_set.colors.tolist(), mean=info.mean, std=info.std,
        provenance={"dataset": label_set.name, **provenance},
    )


def save_checkpoint(
    path: str | os.PathLike, state_dict: dict[str, torch.Tensor], meta: CheckpointMeta
) -> Path:
    """Write weights + metadata atomically to ``path`` (``.safetensors`` or torch format; see
    :func:`~frrn_seg_ros.core.files.atomic_write`)."""
    path = Path(path)
    meta_dict = meta.to_dict()
    _check_tensors(state_dict, "")
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with atomic_write(path) as tmp:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(tensors, tmp, metadata={FORMAT_NAME: json.dumps(meta_dict)})
        else:
            payload = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "meta": meta_dict,
                       "state_dict": tensors}
            torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[CheckpointMeta, dict[str, torch.Tensor]]:
    """Read a checkpoint without executing code; raise :class:`CheckpointError` naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint is empty (0 bytes): {path}")
    if path.suffix == ".safetensors":
        meta_dict, state = _read_safetensors(path)
    else:
        meta_dict, state = _read_torch(path)
    try:
        meta = CheckpointMeta.from_dict(meta_dict)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    _check_tensors(state, f"{path}: ")
    if meta.format_version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {meta.format_version}; this frrn_seg_ros reads up to "
            f"{FORMAT_VERSION}: upgrade the package"
        )
    return meta, state


def _check_tensors(state: dict[str, Any], prefix: str) -> None:
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        kind = type(state[bad[0]]).__name__
        raise CheckpointError(f"{prefix}state_dict entry {bad[0]!r} is a {kind}, not a tensor")


def _read_torch(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    payload = torch_load_weights_only(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path} is not a {FORMAT_NAME} checkpoint (no 'format': '{FORMAT_NAME}' entry); "
            "convert training or torchvision weights with the export tool"
        )
    if not isinstance(payload.get("meta"), dict) or not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(f"{path} lacks its 'meta' or 'state_dict' entry")
    return payload["meta"], payload["state_dict"]


def _read_safetensors(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt: {exc}") from None
    if FORMAT_NAME not in header:
        raise CheckpointError(f"{path} has no '{FORMAT_NAME}' metadata: not a {FORMAT_NAME} checkpoint")
    try:
        return json.loads(header[FORMAT_NAME]), state
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} has unreadable metadata: {exc}") from None


def load_model(path: str | os.PathLike, **build_kwargs: Any) -> tuple[nn.Module, CheckpointMeta]:
    """Build the architecture a checkpoint names and load its weights strictly (CPU, eval mode)."""
    from .models import build_model

    meta, state = load_checkpoint(path)
    try:
        model = build_model(meta.architecture, num_classes=meta.num_classes, **build_kwargs)
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    load_state_dict_checked(model, state, source=str(path))
    return model.eval(), meta


def load_state_dict_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strictly load ``state`` into ``model``; list missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = [f"{len(keys)} {what} (first: {keys[:n]})" for keys, what, n in (
            (missing, "missing keys", 5), (unexpected, "unexpected keys", 5), (shapes, "shape mismatches", 3)
        ) if keys]
        raise CheckpointError(f"weights in {source} do not fit {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
