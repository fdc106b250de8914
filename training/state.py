"""Training checkpoints: everything needed for an exact resume, loadable with ``weights_only=True``.

Layout (plain containers, tensors and numbers only)::

    {"format": "frrn_seg_train", "version": 1, "iteration": int, "best_miou": float,
     "model": state_dict, "optimizer": ..., "scheduler": ..., "scaler": ...,
     "rng": {"python": [...], "numpy": {...}, "torch": ByteTensor, "cuda": [ByteTensor, ...]},
     "config": recipe dict, "metrics": dict,
     "run": {"recipe": str, "protocol": str | None, "dataset": str, "batch_size": int,
             "accumulate": int, "world_size": int}}

``run`` fixes what an exact resume depends on; :func:`check_resume_compatible` refuses a resume
whose current config differs in any of them (the world size only warns).

The node checkpoint (weights + metadata only) is made from this by :mod:`frrn_seg_training.export_checkpoint`.
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from frrn_seg_ros.core.files import atomic_write

log = logging.getLogger(__name__)

TRAIN_FORMAT = "frrn_seg_train"
TRAIN_FORMAT_VERSION = 1


def capture_rng() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA) global RNG states as plain data / tensors."""
    version, state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    rng: dict[str, Any] = {
        "python": [version, list(state), gauss],
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    version, state, gauss = rng["python"]
    random.setstate((int(version), tuple(int(v) for v in state), gauss))
    np_state = rng["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            int(np_state["pos"]),
            int(np_state["has_gauss"]),
            float(np_state["gauss"]),
        )
    )
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def plain(value: Any) -> Any:
    """Recursively turn a config into YAML/torch-weights-only friendly plain data."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


#: ``run`` keys that must match on resume (the data position and the schedule depend on them).
RESUME_MUST_MATCH = ("recipe", "protocol", "dataset", "batch_size", "accumulate")


def run_signature(cfg: dict[str, Any], world_size: int = 1) -> dict[str, Any]:
    """The ``run`` entry of a training checkpoint for recipe dict ``cfg``."""
    return {
        "recipe": str(cfg.get("_recipe", {}).get("name", "custom")),
        "protocol": cfg.get("_recipe", {}).get("protocol"),
        "dataset": str(cfg["data"]["dataset"]),
        "batch_size": int(cfg["train"]["batch_size"]),
        "accumulate": max(1, int(cfg["train"]["accumulate"])),
        "world_size": int(world_size),
    }


def check_resume_compatible(
    saved: dict[str, Any] | None, current: dict[str, Any], path: str | os.PathLike
) -> None:
    """Raise ``ValueError`` naming every :data:`RESUME_MUST_MATCH` key that differs between the
    checkpoint's ``run`` entry and the current run; warn on a different world size.

    Checkpoints written before ``run`` was stored (``saved`` None) are accepted with a warning.
    """
    if not saved:
        log.warning("%s has no 'run' entry (older checkpoint): resume settings not checked", path)
        return
    diffs = [
        f"{key}: checkpoint {saved.get(key)!r}, now {current[key]!r}"
        for key in RESUME_MUST_MATCH
        if key in saved and saved[key] != current[key]  # (checkpoints before 'protocol' lack it)
    ]
    if diffs:
        raise ValueError(
            f"cannot resume from {path}: the run settings differ ({'; '.join(diffs)}). The data "
            "position and the schedule depend on them; restore them with --set (e.g. "
            "train.batch_size=...) or start a new run without --resume"
        )
    if saved.get("world_size", current["world_size"]) != current["world_size"]:
        log.warning(
            "resuming %s with %d processes instead of %d: the data order will not match the "
            "uninterrupted run",
            path,
            current["world_size"],
            saved["world_size"],
        )


def save_training_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` (see module doc) atomically to ``path``."""
    path = Path(path)
    payload = {"format": TRAIN_FORMAT, "version": TRAIN_FORMAT_VERSION, **state}
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


#: ``.<name>.pt.<8 random chars>.tmp``: the partial file :func:`save_training_state` writes (via
#: :func:`~frrn_seg_ros.core.files.atomic_write`) before renaming it over ``<name>.pt``.
PARTIAL_CHECKPOINT = re.compile(r"^\.(?P<name>.+\.pt)\.[a-z0-9_]{8}\.tmp$")


def remove_stale_partials(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the partial checkpoint files a killed run left in ``run_dir`` (not recursive), with a
    log line naming each and its size; returns the removed paths. Call once at start, before any
    save of this run (only rank 0 writes, so only rank 0 calls it)."""
    folder = Path(run_dir)
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and PARTIAL_CHECKPOINT.match(path.name):
            size = path.stat().st_size
            path.unlink(missing_ok=True)
            removed.append(path)
            log.warning("removed %s (%.1f MB): partial checkpoint of a killed run", path, size / 1e6)
    return removed


def load_training_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint with ``weights_only=True``; clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training checkpoint not found: {path}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != TRAIN_FORMAT:
        raise ValueError(f"{path} is not a training checkpoint (no 'format': '{TRAIN_FORMAT}' entry)")
    return payload
