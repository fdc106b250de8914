"""The checkpoint format: round trips, metadata, and refusal of unsafe or broken files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from frrn_seg_ros.core.checkpoint import (
    IMAGENET_MEAN,
    CheckpointError,
    CheckpointMeta,
    default_meta,
    file_sha256,
    load_checkpoint,
    load_model,
    load_state_dict_checked,
    save_checkpoint,
)
from frrn_seg_ros.core.labels import CAMVID, CITYSCAPES
from frrn_seg_ros.core.models import build_model


def _meta(num_classes: int = 3) -> CheckpointMeta:
    return CheckpointMeta(
        architecture="csrnet_light",
        num_classes=num_classes,
        class_names=[f"c{i}" for i in range(num_classes)],
        class_colors=[[i, i, i] for i in range(num_classes)],
        mean=IMAGENET_MEAN,
        provenance={"dataset": "synthetic", "iterations": 12, "miou": 0.5},
    )


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_round_trip_gives_identical_logits(tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(0)
    model = build_model("csrnet_light", num_classes=3).eval()
    path = save_checkpoint(tmp_path / f"m{suffix}", model.state_dict(), _meta())
    loaded, meta = load_model(path)
    assert meta == _meta()
    x = torch.rand(1, 3, 64, 96)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))


def test_default_meta_is_self_describing() -> None:
    meta = default_meta("frrn_a", CAMVID, recipe="frrn_a_camvid")
    assert meta.num_classes == 11 and meta.class_names[0] == "Sky"
    assert meta.mean == (0.0, 0.0, 0.0) and meta.std == (1.0, 1.0, 1.0)  # FRRN: RGB in [0, 1]
    assert default_meta("csrnet_heavy", CITYSCAPES).mean == IMAGENET_MEAN
    assert meta.provenance == {"dataset": "camvid", "recipe": "frrn_a_camvid"}


class _RunsCodeOnLoad:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    payload = {"format": "frrn_seg_ros", "meta": {}, "state_dict": {}, "x": _RunsCodeOnLoad(marker)}
    torch.save(payload, evil)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_missing_empty_truncated_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "empty.pt")
    good = save_checkpoint(tmp_path / "good.pt", {"w": torch.ones(1000)}, _meta())
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"model": {"w": torch.ones(2)}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a frrn_seg_ros checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    safe = save_checkpoint(tmp_path / "good.safetensors", {"w": torch.ones(1000)}, _meta())
    (tmp_path / "cut.safetensors").write_bytes(safe.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.safetensors")


def test_mismatched_weights_name_the_keys(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    state = model.state_dict()
    state["0.weight"] = torch.zeros(5, 3, 1, 1)
    del state["1.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as info:
        load_state_dict_checked(model, state, source="x.pt")
    text = str(info.value)
    assert "1.bias" in text and "extra.weight" in text and "0.weight" in text


def test_wrong_class_count_in_file_is_reported(tmp_path: Path) -> None:
    model = build_model("csrnet_light", num_classes=3)
    path = save_checkpoint(tmp_path / "m.pt", model.state_dict(), _meta(num_classes=4))
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_model(path)


def test_inconsistent_metadata_is_refused() -> None:
    with pytest.raises(CheckpointError, match="num_classes=3"):
        CheckpointMeta("frrn_a", 3, ["a"], [[0, 0, 0]])


def test_sha256(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    assert file_sha256(tmp_path / "f").startswith("ba7816bf")
