"""IoU against the official cityscapesscripts evaluation; trimap bands; prediction files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from frrn_seg_ros.core.labels import CITYSCAPES, cityscapes_label_ids_to_train_ids
from frrn_seg_training.evaluate import write_cityscapes_prediction
from frrn_seg_training.metrics import (
    ConfusionMeter,
    TrimapMeter,
    boundary_band,
    confusion_matrix,
    iou_from_confusion,
    label_boundaries,
    mean_iou,
)
from frrn_seg_training.synthetic import write_dataset


def test_iou_hand_example():
    target = torch.tensor([[0, 0, 1, 1, 255]])
    pred = torch.tensor([[0, 1, 1, 1, 0]])
    cm = confusion_matrix(pred, target, 3)
    iou = iou_from_confusion(cm)
    assert iou[0].item() == pytest.approx(1 / 2)  # tp 1, fn 1, fp 0 (void pixel ignored)
    assert iou[1].item() == pytest.approx(2 / 3)  # tp 2, fp 1
    assert math.isnan(iou[2].item())
    assert mean_iou(cm) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_out_of_range_prediction_is_false_negative_only():
    cm = confusion_matrix(torch.tensor([255, 0]), torch.tensor([0, 0]), 2)
    assert iou_from_confusion(cm)[0].item() == pytest.approx(0.5)


def test_matches_official_cityscapes_evaluation(tmp_path):
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official

    root = write_dataset(tmp_path / "cs", train=0, val=3, size=(48, 96), seed=5)
    gt_files = sorted((root / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))
    rng = np.random.default_rng(0)
    meter = ConfusionMeter(19)
    pred_files = []
    for gt_file in gt_files:
        gt_train = cityscapes_label_ids_to_train_ids(np.asarray(Image.open(gt_file)))
        # A plausible prediction: ground truth with 30% of the pixels replaced by random classes.
        pred = np.where(gt_train == 255, rng.integers(0, 19, gt_train.shape), gt_train)
        noise = rng.random(gt_train.shape) < 0.3
        pred = np.where(noise, rng.integers(0, 19, gt_train.shape), pred).astype(np.uint8)
        pred_files.append(
            str(
                write_cityscapes_prediction(
                    pred, gt_file.name.replace("gtFine_labelIds", "leftImg8bit"), tmp_path / "p"
                )
            )
        )
        meter.update(torch.from_numpy(pred), torch.from_numpy(gt_train.astype(np.int64)))
    args = official.args
    args.evalInstLevelScore, args.JSONOutput, args.quiet = False, False, True
    args.exportFile = str(tmp_path / "result.json")
    result = official.evaluateImgLists(pred_files, [str(f) for f in gt_files], args)
    ours = meter.summary(CITYSCAPES.names)["iou"]
    compared = 0
    for name, value in result["classScores"].items():
        theirs_nan = value is None or (isinstance(value, float) and math.isnan(value))
        if name not in ours:
            continue
        if theirs_nan:
            assert ours[name] is None, name
        else:
            assert ours[name] == pytest.approx(value, abs=1e-6), name
            compared += 1
    assert compared >= 7


def test_boundaries_and_band_radius():
    target = torch.zeros(1, 9, 9, dtype=torch.long)
    target[:, :, 5:] = 1
    edge = label_boundaries(target)
    assert edge[0, :, 4:6].all() and edge.sum() == 18
    band = boundary_band(target, 2)
    np.testing.assert_array_equal(band[0, 0].numpy(), [0, 0, 1, 1, 1, 1, 1, 1, 0])
    assert boundary_band(target, 0).sum() == 18


def test_trimap_scores_only_the_band():
    target = torch.zeros(1, 8, 16, dtype=torch.long)
    target[:, :, 8:] = 1
    pred = target.clone()
    pred[:, :, 0] = 1  # an error far from the boundary (column 0)
    trimap = TrimapMeter(2, [1, 100])
    trimap.update(pred, target)
    scores = trimap.summary()
    assert scores[1] == pytest.approx(1.0)  # the band around column 7/8 is all correct
    assert scores[100] < 1.0  # the whole image includes the error


def test_prediction_files_hold_label_ids(tmp_path):
    pred = np.array([[0, 13, 18]], dtype=np.uint8)
    path = write_cityscapes_prediction(pred, "berlin_000000_000019_leftImg8bit.png", tmp_path)
    assert path.name == "berlin_000000_000019_pred_labelIds.png"
    np.testing.assert_array_equal(np.asarray(Image.open(path)), [[7, 26, 33]])
