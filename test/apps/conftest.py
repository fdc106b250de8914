"""Shared fixtures for the tool tests: a tiny synthetic Cityscapes-layout dataset and a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from frrn_seg_ros.core.labels import cityscapes_label_ids_to_train_ids

TINY_HW = (64, 96)  # multiples of 32: every architecture runs at it without padding


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """Four val scenes of 64x96 written by frrn_seg_training.synthetic (Cityscapes layout, labelIds)."""
    from frrn_seg_training.synthetic import write_dataset

    return write_dataset(tmp_path_factory.mktemp("synth"), train=0, val=4, size=TINY_HW, seed=3)


@pytest.fixture(scope="session")
def expected_samples(synthetic_root) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rgb, train-id label) of every val scene, read straight from the files, in sorted order."""
    root = synthetic_root
    out = []
    for image in sorted((root / "leftImg8bit" / "val").glob("*/*_leftImg8bit.png")):
        stem = image.name[: -len("_leftImg8bit.png")]
        label = root / "gtFine" / "val" / image.parent.name / f"{stem}_gtFine_labelIds.png"
        out.append(
            (
                np.asarray(Image.open(image).convert("RGB")),
                cityscapes_label_ids_to_train_ids(np.asarray(Image.open(label))),
            )
        )
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A csrnet_light checkpoint with fixed random weights (seeded), Cityscapes classes."""
    import torch

    from frrn_seg_ros.core.checkpoint import default_meta, save_checkpoint
    from frrn_seg_ros.core.models import build_model

    torch.manual_seed(0)
    model = build_model("csrnet_light", num_classes=19).eval()
    path = tmp_path_factory.mktemp("ckpt") / "csrnet_light.safetensors"
    return save_checkpoint(path, model.state_dict(), default_meta("csrnet_light"))


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> Path:
    """Seeded random frrn_a weights exported to ONNX at a fixed TINY_HW input (metadata inside).

    FRRN A, not CSRNet: CSRNet's adaptive pooling needs the slow dynamo exporter (~20 s)."""
    import torch

    from frrn_seg_ros.core.checkpoint import default_meta
    from frrn_seg_ros.core.model_export import export_onnx
    from frrn_seg_ros.core.models import build_model

    torch.manual_seed(0)
    model = build_model("frrn_a", num_classes=19).eval()
    path = tmp_path_factory.mktemp("onnx") / "frrn_a.onnx"
    export_onnx(model, default_meta("frrn_a"), path, TINY_HW, dynamic=False, exporter="torchscript")
    return path
