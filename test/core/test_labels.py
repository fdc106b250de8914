"""The label tables: Cityscapes against the official cityscapesscripts table, CamVid groupings."""

from __future__ import annotations

import cityscapesscripts.helpers.labels as official  # a dev requirement: a missing one fails the suite
import numpy as np
import pytest

from frrn_seg_ros.core import labels as L


def test_cityscapes_matches_cityscapesscripts() -> None:
    ours = {name: (label_id, train_id, color) for name, label_id, train_id, color in L.CITYSCAPES_TABLE}
    theirs = {lab.name: (lab.id, lab.trainId, tuple(lab.color)) for lab in official.labels if lab.id >= 0}
    assert ours == theirs
    eval_classes = sorted((lab.trainId, lab.name, tuple(lab.color)) for lab in official.labels
                          if lab.trainId not in (255, -1))
    assert [(c.train_id, c.name, c.color) for c in L.CITYSCAPES.classes] == eval_classes
    assert L.CITYSCAPES.num_classes == 19


def test_cityscapes_id_lookups_round_trip() -> None:
    label_ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    train_ids = L.cityscapes_label_ids_to_train_ids(label_ids)
    for label_id in range(256):
        expected = official.id2label[label_id].trainId if label_id in official.id2label else 255
        assert train_ids.flat[label_id] == (255 if expected in (-1, 255) else expected)
    back = L.cityscapes_train_ids_to_label_ids(np.arange(19, dtype=np.uint8))
    assert [official.trainId2label[t].id for t in range(19)] == back.tolist()


def test_palette_and_colorize() -> None:
    palette = L.CITYSCAPES.palette
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert tuple(palette[13]) == (0, 0, 142)  # car
    assert tuple(palette[255]) == (0, 0, 0)
    labels = np.array([[0, 13], [255, 10]], dtype=np.uint8)
    rgb = L.colorize(labels, palette)
    assert rgb.shape == (2, 2, 3)
    assert tuple(rgb[0, 0]) == (128, 64, 128) and tuple(rgb[1, 1]) == (70, 130, 180)


def test_camvid_tables() -> None:
    assert L.CAMVID.num_classes == 11
    assert L.CAMVID.names[0] == "Sky" and L.CAMVID.names[-1] == "Bicyclist"
    assert len(L.CAMVID_TABLE_32) == 32
    groups = {g for _, _, g in L.CAMVID_TABLE_32 if g is not None}
    assert groups == set(L.CAMVID.names)
    segnet = np.array([[0, 10, 11]], dtype=np.uint8)
    assert L.camvid_segnet_to_train_ids(segnet).tolist() == [[0, 10, 255]]


def test_camvid_colour_labels_grouped() -> None:
    rgb = np.array(
        [[(128, 0, 192), (0, 0, 192), (64, 128, 192), (0, 0, 0), (1, 2, 3)]], dtype=np.uint8
    )  # LaneMkgsDriv, Sidewalk, SUVPickupTruck, Void, not a CamVid colour
    ids = L.camvid_color_to_train_ids(rgb)
    names = L.CAMVID.names
    assert ids[0, :3].tolist() == [names.index("Road"), names.index("Pavement"), names.index("Car")]
    assert ids[0, 3:].tolist() == [255, 255]


def test_get_label_set() -> None:
    assert L.get_label_set("Cityscapes") is L.CITYSCAPES
    with pytest.raises(ValueError, match="camvid"):
        L.get_label_set("kitti")
