"""An imported authors' checkpoint in the real node process: its labels over DDS are the authors'."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from frrn_lasagne_reference import authors_forward, random_arrays
from node_process import NodeProcess, assert_clean_exit, node_command, signal
from rosutil import Collector, input_qos, publish_until, stamped, unique
from sensor_msgs.msg import Image

from frrn_seg_ros.cli.import_weights import main as import_main
from frrn_seg_ros.ros.conversions import array_to_image, image_to_array

pytestmark = pytest.mark.ros


def test_node_with_imported_frrn_a_publishes_the_authors_labels(ros, tmp_path) -> None:
    arrays = random_arrays("frrn_a", seed=11)
    src = tmp_path / "frrn_a.npz"
    np.savez(src, *arrays)
    ckpt = tmp_path / "frrn_a.safetensors"
    argv = ["--format", "frrn-lasagne", "--arch", "frrn_a", "--input", str(src), "--output", str(ckpt)]
    assert import_main(argv) == 0
    ns = "/" + unique("imported")
    params = (f"model.checkpoint:={ckpt}", "model.input_height:=64", "model.input_width:=128")
    node = NodeProcess(node_command(ns, *params))
    try:
        tester = ros.node()
        pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos())
        labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
        frame = np.random.default_rng(12).integers(0, 256, (64, 128, 3), dtype=np.uint8)
        got = publish_until(pub, stamped(array_to_image(frame, "rgb8"), "cam", 5, 9), labels, timeout=120.0)
        assert got, f"no labels from the node: {node.output[-2000:]}"
        assert got[0].header.stamp.sec == 5 and got[0].header.frame_id == "cam"
        ours = image_to_array(got[0])
        code, _ = node.signal_and_wait(signal.SIGINT)
    finally:
        node.kill()
    assert_clean_exit(code, node.output)
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].double() / 255.0
    with torch.inference_mode():
        expected = authors_forward(arrays, x, "frrn_a").argmax(1)[0].numpy()
    assert ours.shape == expected.shape
    assert (ours == expected).mean() >= 0.999
