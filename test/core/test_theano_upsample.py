"""FRRN's x2 upsampling equals the authors' (Theano's ``bilinear_upsampling(x, 2)``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from frrn_seg_ros.core.checkpoint import default_meta
from frrn_seg_ros.core.model_export import export_onnx
from frrn_seg_ros.core.models import build_model
from frrn_seg_ros.core.models.blocks import theano_upsample2x


def theano_reference_1d(x: np.ndarray) -> np.ndarray:
    """Theano's algorithm written out independently (theano/tensor/nnet/abstract_conv.py).

    Pad one replicated entry at both ends, then the gradient of a stride-2 convolution with the
    normalised kernel [0.5, 1, 0.5] and border pad 2*r - (r-1)//2 - 1 = 3, cut to 2n outputs:
    out[j] = sum_i padded[i] * kern[j + pad - 2 i].
    """
    kern = np.array([0.5, 1.0, 0.5])
    padded = np.concatenate([x[:1], x, x[-1:]])
    pad = 3
    out = np.zeros(2 * len(x))
    for j in range(len(out)):
        for i, value in enumerate(padded):
            k = j + pad - 2 * i
            if 0 <= k < len(kern):
                out[j] += value * kern[k]
    return out


def theano_reference_2d(x: np.ndarray) -> np.ndarray:
    rows = np.stack([theano_reference_1d(col) for col in x.T], axis=1)  # along H
    return np.stack([theano_reference_1d(row) for row in rows], axis=0)  # along W


def test_golden_values_1d() -> None:
    x = torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 1, 1, 4)
    out = theano_upsample2x(x)
    assert out.shape == (1, 1, 2, 8)
    expected = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3]
    assert out[0, 0, 0].tolist() == expected
    assert out[0, 0, 1].tolist() == expected  # a single row is repeated
    assert theano_reference_1d(np.arange(4.0)).tolist() == expected


def test_golden_values_2d() -> None:
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).view(1, 1, 2, 2)
    expected = [
        [0.0, 0.5, 1.0, 1.0],
        [1.0, 1.5, 2.0, 2.0],
        [2.0, 2.5, 3.0, 3.0],
        [2.0, 2.5, 3.0, 3.0],
    ]
    assert theano_upsample2x(x)[0, 0].tolist() == expected
    assert theano_reference_2d(x[0, 0].numpy()).tolist() == expected


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 5, 7), (1, 4, 8, 16)])
def test_equals_the_independent_reference(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64)
    out = theano_upsample2x(x)
    assert out.shape == (*shape[:2], 2 * shape[2], 2 * shape[3])
    for n in range(shape[0]):
        for c in range(shape[1]):
            ref = theano_reference_2d(x[n, c].numpy())
            np.testing.assert_allclose(out[n, c].numpy(), ref, rtol=0, atol=1e-12)


def test_differs_from_torch_bilinear() -> None:
    """The rule that cost 24 % of pixels: torch's align_corners=False is not Theano's."""
    x = torch.arange(4.0).view(1, 1, 1, 4)
    torch_rule = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert not torch.equal(torch_rule, theano_upsample2x(x))


def test_frrn_decoder_stages_receive_theano_upsampled_input() -> None:
    torch.manual_seed(1)
    model = build_model("frrn_a", num_classes=3).eval()
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    stages = [*model.encoder, *model.decoder]
    hooks = [s.register_forward_hook(lambda _m, inp, out: seen.append((inp[0], out[0]))) for s in stages]
    merged: list[torch.Tensor] = []
    hooks.append(model.output_units.register_forward_pre_hook(lambda _m, inp: merged.append(inp[0])))
    with torch.inference_mode():
        model(torch.rand(1, 3, 32, 64))
    for h in hooks:
        h.remove()
    n_enc = len(model.encoder)
    for k in range(n_enc, len(stages)):
        previous_y = seen[k - 1][1]
        assert torch.equal(seen[k][0], theano_upsample2x(previous_y))
    last_y = seen[-1][1]
    assert torch.equal(merged[0][:, : last_y.shape[1]], theano_upsample2x(last_y))


def test_dynamic_onnx_export_keeps_the_rule(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(2)
    model = build_model("frrn_a").eval()
    path = tmp_path / "frrn_a.onnx"
    export_onnx(model, default_meta("frrn_a"), path, (32, 64), dynamic=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, 48, 80)
    with torch.inference_mode():
        expected = model(x).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * scale)
