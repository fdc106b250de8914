"""make_bag + bag_io: bags written from a synthetic dataset read back exactly (mcap and sqlite3)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from frrn_seg_ros.replay import make_bag
from frrn_seg_ros.replay.bag_io import BagWriter, bag_topics, frame_count, read_frames


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_raw_bag_round_trip(synthetic_root, expected_samples, tmp_path, storage):
    out = tmp_path / "bag"
    rc = make_bag.main(
        [
            "--cityscapes",
            str(synthetic_root),
            "--out",
            str(out),
            "--storage",
            storage,
            "--rate",
            "4",
            "--start-time",
            "1234.5",
            "--frame-id",
            "cam_optical",
        ]
    )
    assert rc == 0
    assert (out / "metadata.yaml").is_file()
    assert any(out.glob("*.mcap" if storage == "mcap" else "*.db3"))
    assert bag_topics(out) == {
        "/camera/image": "sensor_msgs/msg/Image",
        "/camera/segmentation/ground_truth": "sensor_msgs/msg/Image",
    }
    frames = list(read_frames(out))
    expected = expected_samples
    assert len(frames) == len(expected) == 4
    for i, (frame, (rgb, label)) in enumerate(zip(frames, expected, strict=True)):
        assert frame.stamp_ns == 1_234_500_000_000 + i * 250_000_000
        assert frame.frame_id == "cam_optical"
        assert frame.image.frame.encoding == "rgb8"
        np.testing.assert_array_equal(frame.image.frame.data, rgb)
        np.testing.assert_array_equal(frame.ground_truth, label)
        assert frame.log_time_ns["image"] == frame.stamp_ns == frame.log_time_ns["gt"]
        assert frame.ground_truth.dtype == np.uint8


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_compressed_bag(synthetic_root, expected_samples, tmp_path, fmt):
    out = tmp_path / "bag"
    assert (
        make_bag.main(
            ["--cityscapes", str(synthetic_root), "--out", str(out), "--compressed", fmt, "--limit", "2"]
        )
        == 0
    )
    assert bag_topics(out)["/camera/image/compressed"] == "sensor_msgs/msg/CompressedImage"
    assert frame_count(out, ["/camera/image/compressed"]) == 2
    frames = list(read_frames(out, image_topic="/camera/image/compressed"))
    expected = expected_samples[:2]
    assert len(frames) == 2
    for i, (frame, (rgb, label)) in enumerate(zip(frames, expected, strict=True)):
        assert fmt in frame.image.compressed_format
        np.testing.assert_array_equal(frame.ground_truth, label)
        if fmt == "png":
            np.testing.assert_array_equal(frame.image.frame.data, rgb)
        else:  # lossy (the synthetic scenes are noisy): much closer to its own picture than to the other
            own = np.abs(frame.image.frame.data.astype(int) - rgb.astype(int)).mean()
            other = np.abs(frame.image.frame.data.astype(int) - expected[1 - i][0].astype(int)).mean()
            assert own < 12.0 and own < other / 2


def test_image_folder_with_labels_and_resize(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    labels = []
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(tmp_path / "img" / f"{i}.png")
        labels.append(rng.integers(0, 19, (20, 30), dtype=np.uint8))
        Image.fromarray(labels[-1]).save(tmp_path / "lab" / f"{i}.png")
    out = tmp_path / "bag"
    assert (
        make_bag.main(
            [
                "--images",
                str(tmp_path / "img"),
                "--labels",
                str(tmp_path / "lab"),
                "--out",
                str(out),
                "--size",
                "10x15",  # HEIGHTxWIDTH, like every size on the command line
                "--image-topic",
                "/front/image",
                "--gt-topic",
                "/front/gt",
            ]
        )
        == 0
    )
    frames = list(read_frames(out, image_topic="/front/image", gt_topic="/front/gt"))
    assert [f.image.frame.data.shape for f in frames] == [(10, 15, 3)] * 3
    for frame, label in zip(frames, labels, strict=True):  # nearest resize of the label
        np.testing.assert_array_equal(
            frame.ground_truth, np.asarray(Image.fromarray(label).resize((15, 10), 0))
        )


def test_pairs_by_header_stamp_not_log_time(tmp_path):
    """Recorded node outputs are logged later than their input; pairing must use the header stamp."""
    out = tmp_path / "bag"
    gt = [np.full((4, 6), i, np.uint8) for i in range(5)]
    with BagWriter(out, "mcap") as writer:
        for i in range(5):
            stamp = 10_000_000_000 + i * 100_000_000
            writer.write_image("/cam/gt", gt[i], stamp, "f")
            # prediction i logged 250 ms after its stamp: after the ground truth of frames i+1, i+2
            writer.write_image("/cam/labels", gt[i] + 1, stamp, "f", "mono8", log_time_ns=stamp + 250_000_000)
    frames = list(read_frames(out, image_topic=None, gt_topic="/cam/gt", prediction_topic="/cam/labels"))
    assert [f.stamp_ns for f in frames] == [10_000_000_000 + i * 100_000_000 for i in range(5)]
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(frame.ground_truth, gt[i])
        np.testing.assert_array_equal(frame.prediction, gt[i] + 1)
        assert frame.log_time_ns["prediction"] - frame.stamp_ns == 250_000_000


def test_errors_are_clear(synthetic_root, tmp_path, capsys):
    out = tmp_path / "bag"
    assert make_bag.main(["--cityscapes", str(synthetic_root), "--out", str(out), "--limit", "1"]) == 0
    assert make_bag.main(["--cityscapes", str(synthetic_root), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert make_bag.main(["--images", str(tmp_path / "nope"), "--out", str(tmp_path / "b2")]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not in bag"):
        list(read_frames(out, image_topic="/other/image"))


def test_cityscapes_sequence_bag_has_ground_truth_on_frame_19(tmp_path):
    """Two 30-frame snippets; gtFine labels exist only for each snippet's annotated frame 19."""
    from frrn_seg_ros.core.labels import cityscapes_label_ids_to_train_ids

    rng = np.random.default_rng(5)
    seq = tmp_path / "cs" / "leftImg8bit_sequence" / "val" / "lindau"
    gt_dir = tmp_path / "cs" / "gtFine" / "val" / "lindau"
    seq.mkdir(parents=True)
    gt_dir.mkdir(parents=True)
    images, labels = [], {}
    for snippet, first in enumerate((100, 400)):
        for k in range(30):
            stem = f"lindau_{snippet:06d}_{first + k:06d}"
            images.append(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
            Image.fromarray(images[-1]).save(seq / f"{stem}_leftImg8bit.png")
            if k == 19:  # label ids for the first snippet (mapped on reading), train ids for the second
                if snippet == 0:
                    raw = rng.integers(0, 34, (6, 8), dtype=np.uint8)
                    Image.fromarray(raw).save(gt_dir / f"{stem}_gtFine_labelIds.png")
                    labels[30 * snippet + k] = cityscapes_label_ids_to_train_ids(raw)
                else:
                    train = rng.integers(0, 19, (6, 8), dtype=np.uint8)
                    Image.fromarray(train).save(gt_dir / f"{stem}_gtFine_labelTrainIds.png")
                    labels[30 * snippet + k] = train
    out = tmp_path / "bag"
    argv = ["--cityscapes-sequence", str(tmp_path / "cs"), "--out", str(out), "--rate", "17"]
    assert make_bag.main([*argv, "--start-time", "100"]) == 0
    assert frame_count(out, ["/camera/image"]) == 60
    assert frame_count(out, ["/camera/segmentation/ground_truth"]) == 2
    frames = sorted(read_frames(out, window=100), key=lambda f: f.stamp_ns)
    assert len(frames) == 60
    with_gt = [i for i, f in enumerate(frames) if f.ground_truth is not None]
    assert with_gt == [19, 49]
    for i, frame in enumerate(frames):
        assert frame.stamp_ns == 100_000_000_000 + i * round(1e9 / 17)
        np.testing.assert_array_equal(frame.image.frame.data, images[i])
    for i in with_gt:
        np.testing.assert_array_equal(frames[i].ground_truth, labels[i])
