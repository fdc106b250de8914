"""Shared fixtures for the training tests: a tiny synthetic Cityscapes-layout dataset and a writer
of fake CamVid folders (SegNet 11-class layout or 32-class colour layout)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from frrn_seg_ros.core.labels import CAMVID_TABLE_32
from frrn_seg_training.synthetic import write_dataset


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """6 train / 2 val synthetic scenes at 64x128 (official labelIds)."""
    return write_dataset(tmp_path_factory.mktemp("synth"), train=6, val=2, size=(64, 128), seed=3)


def write_camvid(
    root: Path, split: str, names: list[str], layout: str, size: tuple[int, int] = (12, 16)
) -> None:
    """Random ``(H, W) = size`` CamVid images and labels for ``split`` under ``root``.

    ``layout='segnet'``: ``<split>/<name>.png`` + ``<split>annot/<name>.png`` with ids 0..11
    (11 = void). ``layout='color'``: ``<split>_labels/<name>_L.png`` with colours of the 32-class
    table.
    """
    rng = np.random.default_rng(0)
    h, w = size
    (root / split).mkdir(parents=True)
    annot = root / (f"{split}annot" if layout == "segnet" else f"{split}_labels")
    annot.mkdir()
    for name in names:
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / split / f"{name}.png")
        if layout == "segnet":
            Image.fromarray(rng.integers(0, 12, (h, w), dtype=np.uint8)).save(annot / f"{name}.png")
        else:
            colors = np.array([c for _, c, _ in CAMVID_TABLE_32], dtype=np.uint8)
            Image.fromarray(colors[rng.integers(0, len(colors), (h, w))]).save(annot / f"{name}_L.png")


@pytest.fixture
def camvid_writer() -> Callable[..., None]:
    """:func:`write_camvid` (a fixture so test modules need not import conftest)."""
    return write_camvid
