"""Reading torch.save files without running code: ``torch.load(weights_only=True)`` with failures
told apart (a pickle that could run code vs a cut or corrupt file) as :class:`CheckpointError`.

Its own module so that the checkpoint reader and the model builders (the ResNet-18 weights file)
both use it without importing each other.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

# torch's weights-only unpickler refusing a global or a call (vs. a parse failure on a broken file)
_UNSAFE_PICKLE = re.compile(
    r"Unsupported global|GLOBAL \S+ (?:was not an allowed global|whose module \S+ is blocked)"
    r"|call reduce for unrecognized function|Can only (?:create new object|build)"
)
_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation",
                      "(1", "(2")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, unsafe, or does not fit the model it names."""


def torch_load_weights_only(path: Path, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; failures -> :class:`CheckpointError` naming ``path``.

    A pickle that asks for a global or call outside torch's weights-only allowlist (it could run
    code) is reported as refused; any other failure (cut, garbage or corrupt file) as corrupt.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as exc:
        raise CheckpointError(f"cannot read {what} {path}: {exc}") from None
    except Exception as exc:  # a broken file makes torch raise almost any type (even OSError EINVAL)
        raise torch_load_error(path, exc, what) from None


def torch_load_error(path: Path, exc: BaseException, what: str = "checkpoint") -> CheckpointError:
    """Classify a ``torch.load(weights_only=True)`` failure on ``path``: unsafe pickle vs corrupt file."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    detail = " ".join(ln for ln in lines if not ln.startswith(_TORCH_BOILERPLATE))[:300]
    if isinstance(exc, pickle.UnpicklingError) and _UNSAFE_PICKLE.search(str(exc)):
        return CheckpointError(
            f"refused to load {what} {path}: it holds objects other than tensors and plain data "
            f"(a pickle that could run code). Only weights-only files are accepted. ({detail})"
        )
    detail = f"not a readable torch.save file; {type(exc).__name__}: {detail or repr(exc)}"
    return CheckpointError(f"{what} {path} is truncated or corrupt ({detail})")
