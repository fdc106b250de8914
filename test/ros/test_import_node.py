"""An imported authors' checkpoint in the real node process: its labels over DDS are the authors'."""

from __future__ import annotations

import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from frrn_lasagne_reference import authors_forward, random_arrays
from rosutil import Collector, input_qos, publish_until, stamped, unique
from sensor_msgs.msg import Image

from frrn_seg_ros.ros.conversions import array_to_image, image_to_array
from frrn_seg_ros.ros.env import child_env
from frrn_seg_ros.tools.import_weights import main as import_main

pytestmark = pytest.mark.ros


def test_node_with_imported_frrn_a_publishes_the_authors_labels(ros, tmp_path) -> None:
    arrays = random_arrays("frrn_a", seed=11)
    src = tmp_path / "frrn_a.npz"
    np.savez(src, *arrays)
    ckpt = tmp_path / "frrn_a.safetensors"
    argv = ["--format", "frrn-lasagne", "--arch", "frrn_a", "--input", str(src), "--output", str(ckpt)]
    assert import_main(argv) == 0
    ns = "/" + unique("imported")
    cmd = [
        sys.executable,
        "-m",
        "frrn_seg_ros.ros.main",
        "--ros-args",
        "-r",
        f"__ns:={ns}",
        "-p",
        f"model.checkpoint:={ckpt}",
        "-p",
        "device:=cpu",
        "-p",
        "model.warmup_iters:=0",
        "-p",
        "model.input_height:=64",
        "-p",
        "model.input_width:=128",
    ]
    proc = subprocess.Popen(cmd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        tester = ros.node()
        pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos())
        labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
        frame = np.random.default_rng(12).integers(0, 256, (64, 128, 3), dtype=np.uint8)
        got = publish_until(pub, stamped(array_to_image(frame, "rgb8"), "cam", 5, 9), labels, timeout=120.0)
        assert got, "no labels from the node"
        assert got[0].header.stamp.sec == 5 and got[0].header.frame_id == "cam"
        ours = image_to_array(got[0])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-2000:]
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].double() / 255.0
    with torch.inference_mode():
        expected = authors_forward(arrays, x, "frrn_a").argmax(1)[0].numpy()
    assert ours.shape == expected.shape
    assert (ours == expected).mean() >= 0.999
