"""Shared fixtures for the training tests: a tiny synthetic Cityscapes-layout dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.synthetic import write_dataset


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """6 train / 2 val synthetic scenes at 64x128 (official labelIds)."""
    return write_dataset(tmp_path_factory.mktemp("synth"), train=6, val=2, size=(64, 128), seed=3)
