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
import os
import pickle
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .labels import CITYSCAPES, LabelSet
from .models.info import IMAGENET_MEAN, IMAGENET_STD, UNIT_MEAN, UNIT_STD

FORMAT_NAME = "frrn_seg_ros"
FORMAT_VERSION = 1

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "UNIT_MEAN", "UNIT_STD", "CheckpointError", "CheckpointMeta",
    "default_meta", "file_sha256", "load_checkpoint", "load_model", "load_state_dict_checked",
    "save_checkpoint",
]


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, unsafe, or does not fit the model it names."""


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
        self.mean = tuple(float(v) for v in self.mean)  # type: ignore[assignment]
        self.std = tuple(float(v) for v in self.std)  # type: ignore[assignment]
        if len(self.class_names) != self.num_classes or len(self.class_colors) != self.num_classes:
            raise CheckpointError(
                f"checkpoint metadata lists {len(self.class_names)} names and "
                f"{len(self.class_colors)} colours for num_classes={self.num_classes}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointMeta:
        required = ("architecture", "num_classes", "class_names", "class_colors")
        missing = [key for key in required if key not in data]
        if missing:
            raise CheckpointError(f"checkpoint metadata lacks {missing}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def default_meta(
    architecture: str, label_set: LabelSet = CITYSCAPES, **provenance: Any
) -> CheckpointMeta:
    """Metadata for ``architecture`` on ``label_set`` with the architecture's input scaling."""
    from .models import architecture_info

    info = architecture_info(architecture)
    return CheckpointMeta(
        architecture=architecture,
        num_classes=label_set.num_classes,
        class_names=label_set.names,
        class_colors=label_set.colors.tolist(),
        mean=info.mean,
        std=info.std,
        provenance={"dataset": label_set.name, **provenance},
    )


def save_checkpoint(
    path: str | os.PathLike, state_dict: dict[str, torch.Tensor], meta: CheckpointMeta
) -> Path:
    """Write weights + metadata atomically to ``path`` (``.safetensors`` or torch format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(tensors, tmp, metadata={FORMAT_NAME: json.dumps(meta.to_dict())})
        else:
            payload = {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "meta": meta.to_dict(),
                "state_dict": tensors,
            }
            torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
    meta = CheckpointMeta.from_dict(meta_dict)
    if meta.format_version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {meta.format_version}; this frrn_seg_ros reads up to "
            f"{FORMAT_VERSION}: upgrade the package"
        )
    return meta, state


def _read_torch(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"refused to load {path}: it holds objects other than tensors and plain data "
            f"(a pickle that could run code). Only weights-only checkpoints are accepted. ({exc})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt: {exc}") from None
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
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {missing[:5]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {unexpected[:5]})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (first: {shapes[:3]})")
        raise CheckpointError(f"weights in {source} do not fit {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
