"""Synthetic generator, Cityscapes and CamVid datasets, pipelines, and clear file errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from frrn_seg_ros.core.labels import CITYSCAPES_LABEL_TO_TRAIN
from frrn_seg_training.datasets import DatasetError, build_dataset, camvid_pairs, cityscapes_pairs
from frrn_seg_training.sample_pipeline import PipelineConfig, SamplePipeline
from frrn_seg_training.synthetic import SYNTH_LABEL_IDS, write_dataset
from frrn_seg_training.synthetic import main as synth_main


def _read(path):
    return np.asarray(Image.open(path))


def test_synthetic_layout_labels_and_determinism(tmp_path, synth_root):
    images = sorted((synth_root / "leftImg8bit" / "train").glob("*/*_leftImg8bit.png"))
    labels = sorted((synth_root / "gtFine" / "train").glob("*/*_gtFine_labelIds.png"))
    assert len(images) == 6 and len(labels) == 6
    assert len(list((synth_root / "leftImg8bit" / "val").glob("*/*.png"))) == 2
    lab = _read(labels[0])
    assert _read(images[0]).shape == (64, 128, 3) and lab.shape == (64, 128) and lab.dtype == np.uint8
    seen = set(np.unique(np.concatenate([_read(p).ravel() for p in labels])))
    assert seen <= set(SYNTH_LABEL_IDS) | {1}
    assert {7, 8, 11, 23, 26} <= seen  # road, sidewalk, building, sky, car in every small set
    # Same seed -> identical bytes; another seed -> different scenes.
    again = write_dataset(tmp_path / "again", train=6, val=0, size=(64, 128), seed=3)
    np.testing.assert_array_equal(_read(again / images[0].relative_to(synth_root)), _read(images[0]))
    other = write_dataset(tmp_path / "other", train=1, val=0, size=(64, 128), seed=4)
    assert not np.array_equal(_read(other / images[0].relative_to(synth_root)), _read(images[0]))


def test_synth_cli(tmp_path):
    assert (
        synth_main([str(tmp_path / "d"), "--train", "2", "--val", "1", "--size", "32x48", "--seed", "1"]) == 0
    )
    assert len(list((tmp_path / "d" / "gtFine").glob("*/*/*_gtFine_labelIds.png"))) == 3
    with pytest.raises(SystemExit):
        synth_main([str(tmp_path / "e"), "--size", "big"])


def test_cityscapes_dataset_maps_label_ids_to_train_ids(synth_root):
    ds = build_dataset("cityscapes", synth_root, "train")
    image, label = ds.load(0)
    raw = _read(ds.pairs[0][1])
    np.testing.assert_array_equal(label, CITYSCAPES_LABEL_TO_TRAIN[raw])
    assert set(np.unique(label)) <= set(range(19)) | {255}
    assert image.shape == (64, 128, 3)


def test_cityscapes_prefers_label_train_ids(tmp_path):
    root = write_dataset(tmp_path, train=1, val=0, size=(32, 32), seed=0)
    label_ids = next((root / "gtFine" / "train").glob("*/*_labelIds.png"))
    train_ids = label_ids.with_name(label_ids.name.replace("_labelIds", "_labelTrainIds"))
    Image.fromarray(np.full((32, 32), 5, np.uint8)).save(train_ids)
    ds = build_dataset("cityscapes", root, "train")
    assert (ds.load(0)[1] == 5).all()


def test_missing_label_file_error_names_it(tmp_path, monkeypatch):
    root = write_dataset(tmp_path, train=2, val=0, size=(32, 32), seed=0)
    victim = sorted((root / "gtFine" / "train").glob("*/*_labelIds.png"))[1]
    victim.rename(victim.with_name("misnamed.png"))
    with pytest.raises(DatasetError, match=victim.name):
        cityscapes_pairs(root, "train")
    with pytest.raises(DatasetError, match="leftImg8bit"):
        cityscapes_pairs(root, "val")
    monkeypatch.delenv("CITYSCAPES_DATASET", raising=False)
    with pytest.raises(DatasetError, match="CITYSCAPES_DATASET"):
        cityscapes_pairs(None, "train")
    with pytest.raises(DatasetError, match="nowhere"):
        cityscapes_pairs(tmp_path / "nowhere", "train")


def test_env_var_root(tmp_path, monkeypatch, synth_root):
    monkeypatch.setenv("CITYSCAPES_DATASET", str(synth_root))
    assert len(cityscapes_pairs(None, "val")) == 2


def test_camvid_segnet_and_color_layouts(tmp_path, camvid_writer):
    seg = tmp_path / "segnet"
    camvid_writer(seg, "train", ["0001TP_006690", "0001TP_006720"], "segnet")
    camvid_writer(seg, "val", ["0016E5_07959"], "segnet")
    ds = build_dataset("camvid", seg, "train+val")
    assert len(ds) == 3 and ds.label_set.num_classes == 11
    raw = _read(ds.pairs[0][1])
    label = ds.load(0)[1]
    np.testing.assert_array_equal(label, np.where(raw == 11, 255, raw))
    col = tmp_path / "color"
    camvid_writer(col, "test", ["Seq05VD_f00000"], "color")
    ds = build_dataset("camvid_color", col, "test")
    label = ds.load(0)[1]
    assert set(np.unique(label)) <= set(range(11)) | {255} and len(set(np.unique(label))) > 5
    (col / "test_labels" / "Seq05VD_f00000_L.png").unlink()
    with pytest.raises(DatasetError, match=r"Seq05VD_f00000_L\.png"):
        camvid_pairs(col, "test", "color")


def test_frrn_pipeline_train_and_eval_shapes(synth_root):
    cfg = PipelineConfig(kind="frrn", downsample=2, translate=4, gamma=0.05)
    train = build_dataset("synthetic", synth_root, "train", SamplePipeline(cfg), train=True, seed=1)
    val = build_dataset("synthetic", synth_root, "val", SamplePipeline(cfg), train=False)
    img, lab = train[0]
    assert img.shape == (3, 32, 64) and lab.shape == (32, 64) and lab.dtype == torch.int64
    assert img.min() >= 0.0 and img.max() <= 1.0
    img, lab = val[0]
    assert img.shape == (3, 32, 64) and lab.shape == (64, 128)  # eval labels stay at full resolution
    # Same (seed, epoch, index) -> same sample; another epoch -> another augmentation.
    a, b = train[1], train[1]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    train.set_epoch(1)
    assert not torch.equal(train[1][0], a[0])


def test_csrnet_pipeline_crop_and_normalisation(synth_root):
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    cfg = PipelineConfig(kind="csrnet", hflip=True, scales=[0.75, 1.5], crop=[48, 80], mean=mean, std=std)
    ds = build_dataset("synthetic", synth_root, "train", SamplePipeline(cfg), train=True)
    for i in range(3):
        img, lab = ds[i]
        assert img.shape == (3, 48, 80) and lab.shape == (48, 80)
        assert set(torch.unique(lab).tolist()) <= set(range(19)) | {255}
    with pytest.raises(ValueError, match=r"data\.kind"):
        PipelineConfig(kind="other")
