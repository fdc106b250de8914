"""The checkpoint format: round trips, metadata, and refusal of unsafe or broken files."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
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


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_pickle_that_runs_code_is_refused(tmp_path: Path, zip_format: bool) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    payload = {"format": "frrn_seg_ros", "meta": {}, "state_dict": {}, "x": _RunsCodeOnLoad(marker)}
    torch.save(payload, evil, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(CheckpointError, match=r"refused .*evil\.pt.*could run code") as info:
        load_checkpoint(evil)
    assert "corrupt" not in str(info.value) and "weights_only` set to `False" not in str(info.value)
    assert not marker.exists()


def _garbage(tmp_path: Path, kind: str) -> Path:
    good = save_checkpoint(tmp_path / "good.pt", {"w": torch.ones(1000)}, _meta()).read_bytes()
    legacy = tmp_path / "legacy.pt"
    torch.save({"format": "frrn_seg_ros", "w": torch.ones(100)}, legacy, _use_new_zipfile_serialization=False)
    data = {
        "text": b"model: frrn_a\nthis is a text file, not weights\n" * 4,
        "two_bytes": good[:2],
        "cut_zip": good[: len(good) * 3 // 4],
        "cut_legacy": legacy.read_bytes()[:60],
        "random": np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes(),
    }[kind]
    path = tmp_path / f"{kind}.pt"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", ["text", "two_bytes", "cut_zip", "cut_legacy", "random"])
def test_garbage_is_reported_corrupt_not_unsafe(tmp_path: Path, kind: str) -> None:
    path = _garbage(tmp_path, kind)
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "refused" not in str(info.value)


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


def _numpy_provenance_meta() -> CheckpointMeta:
    meta = _meta()
    meta.num_classes = np.int64(3)
    meta.class_colors = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2]], dtype=np.uint8)
    meta.provenance = {"miou": np.float64(0.5), "iterations": np.int64(12), "flag": np.bool_(True),
                       "per_class": np.array([0.25, 0.75], dtype=np.float32),
                       "nested": {"lr": np.float32(2.0)}}
    return meta


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_numpy_metadata_is_saved_as_plain_data(tmp_path: Path, suffix: str) -> None:
    path = save_checkpoint(tmp_path / f"m{suffix}", {"w": torch.ones(2)}, _numpy_provenance_meta())
    meta, state = load_checkpoint(path)
    assert meta.provenance == {"miou": 0.5, "iterations": 12, "flag": True, "per_class": [0.25, 0.75],
                               "nested": {"lr": 2.0}}
    assert type(meta.provenance["miou"]) is float and type(meta.provenance["iterations"]) is int
    assert type(meta.provenance["flag"]) is bool and type(meta.num_classes) is int
    assert meta.class_colors == [[0, 0, 0], [1, 1, 1], [2, 2, 2]]
    assert torch.equal(state["w"], torch.ones(2))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_metadata_that_is_not_plain_data_is_refused_at_save(tmp_path: Path, suffix: str) -> None:
    meta = _meta()
    meta.provenance = {"run": {"started": dt.datetime(2024, 1, 1)}}
    with pytest.raises(CheckpointError, match=r"provenance\.run\.started is a datetime"):
        save_checkpoint(tmp_path / f"m{suffix}", {"w": torch.ones(2)}, meta)
    with pytest.raises(CheckpointError, match="'w' is a int, not a tensor"):
        save_checkpoint(tmp_path / f"m{suffix}", {"w": 3}, _meta())  # type: ignore[dict-item]
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left


BAD_FIELDS = [
    ("num_classes", "x", "'num_classes' must be an integer"),
    ("num_classes", 0, "'num_classes' must be an integer >= 1"),
    ("mean", 3, "'mean' must be three numbers"),
    ("std", [1.0, "a", 1.0], "'std' must be three numbers"),
    ("format_version", "1", "'format_version' must be an integer"),
    ("architecture", None, "'architecture' must be a string"),
    ("class_names", "abc", "'class_names' must be a list of strings"),
    ("class_colors", [[0, 0], [1, 1, 1], [2, 2, 2]], "'class_colors' must be"),
    ("class_colors", [[0, 0, 300], [1, 1, 1], [2, 2, 2]], "'class_colors' must be"),
    ("provenance", ["a"], "'provenance' must be a dict"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_FIELDS)
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_malformed_metadata_names_the_field(
    tmp_path: Path, suffix: str, key: str, value: object, message: str
) -> None:
    meta = {**_meta().to_dict(), key: value}
    path = tmp_path / f"bad{suffix}"
    if suffix == ".pt":
        torch.save({"format": "frrn_seg_ros", "meta": meta, "state_dict": {"w": torch.ones(1)}}, path)
    else:
        save_file({"w": torch.ones(1)}, str(path), metadata={"frrn_seg_ros": json.dumps(meta)})
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_non_tensor_weights_and_non_dict_metadata_are_refused(tmp_path: Path) -> None:
    payload = {"format": "frrn_seg_ros", "meta": _meta().to_dict(), "state_dict": {"w": 3}}
    torch.save(payload, tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="'w' is a int, not a tensor"):
        load_checkpoint(tmp_path / "a.pt")
    save_file({"w": torch.ones(1)}, str(tmp_path / "b.safetensors"), metadata={"frrn_seg_ros": "[1, 2]"})
    with pytest.raises(CheckpointError, match="metadata is a list, not a dict"):
        load_checkpoint(tmp_path / "b.safetensors")
