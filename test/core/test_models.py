"""Model architecture tests: sizes, parameter counts, chaining, checkpointing, determinism."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from frrn_seg_ros.core.models import (
    ARCHITECTURES,
    IMAGENET_MEAN,
    UNIT_MEAN,
    architecture_info,
    build_model,
    count_parameters,
)
from frrn_seg_ros.core.models.blocks import FRRU, SPFM, SRM
from frrn_seg_ros.core.models.frrn import FRRUStage

# Parameter counts at 19 classes: papers report 17.7M (FRRN A), 24.8M (FRRN B), ~12.8M (CSRNet heavy).
PAPER_PARAMS_M = {"frrn_a": 17.7, "frrn_b": 24.8, "csrnet_heavy": 12.8}


def _count(module: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


@pytest.fixture(scope="module")
def models19() -> dict[str, nn.Module]:
    return {name: build_model(name) for name in ARCHITECTURES}


def test_options_foreign_to_an_architecture_are_refused() -> None:
    with pytest.raises(ValueError, match="no pretrained backbone"):
        build_model("frrn_a", pretrained_backbone="resnet18.pth")
    with pytest.raises(ValueError, match="FRRN only"):
        build_model("csrnet_light", gradient_checkpointing=True)
    assert build_model("frrn_b", pretrained_backbone=None, gradient_checkpointing=False).size_divisor == 32


def test_architecture_list_and_info() -> None:
    assert ARCHITECTURES == ("frrn_a", "frrn_b", "csrnet_light", "csrnet_medium", "csrnet_heavy")
    assert architecture_info("frrn_a").size_divisor == 16
    assert architecture_info("frrn_b").size_divisor == 32
    assert architecture_info("frrn_b").mean == UNIT_MEAN
    assert architecture_info("csrnet_light").mean == IMAGENET_MEAN
    assert architecture_info("csrnet_heavy").std == (0.229, 0.224, 0.225)


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"frrn_a.*csrnet_heavy"):
        build_model("frrn_c")
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        architecture_info("nope")


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS_M))
def test_parameter_count_matches_paper(models19, name: str) -> None:
    params_m = count_parameters(models19[name]) / 1e6
    assert abs(params_m - PAPER_PARAMS_M[name]) < 0.1, f"{name}: {params_m:.3f}M"
    assert architecture_info(name).paper_params_m == PAPER_PARAMS_M[name]


def test_csrnet_variant_sizes_and_module_counts(models19) -> None:
    light, medium, heavy = (models19[f"csrnet_{v}"] for v in ("light", "medium", "heavy"))
    assert count_parameters(light) < count_parameters(medium) < count_parameters(heavy)
    assert [_count(m, SRM) for m in (heavy, medium, light)] == [6, 4, 3]
    assert [_count(m, SPFM) for m in (heavy, medium, light)] == [3, 3, 3]


def test_frru_counts_and_size_divisor(models19) -> None:
    assert _count(models19["frrn_a"], FRRU) == 17
    assert _count(models19["frrn_b"], FRRU) == 21
    for name, model in models19.items():
        assert model.size_divisor == architecture_info(name).size_divisor


def test_num_classes_changes_classifier_only() -> None:
    a19, a11 = build_model("frrn_a"), build_model("frrn_a", num_classes=11)
    assert count_parameters(a19) - count_parameters(a11) == 8 * (48 + 1)


@pytest.mark.parametrize(
    ("name", "size"),
    [("frrn_a", (64, 128)), ("frrn_b", (32, 96)), ("csrnet_light", (65, 97)),
     ("csrnet_medium", (64, 128)), ("csrnet_heavy", (33, 47))],
)
def test_forward_backward_output_size(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=5)
    x = torch.rand(2, 3, *size)
    out = model(x)
    assert out.shape == (2, 5, *size)
    assert torch.isfinite(out).all()
    target = torch.randint(0, 5, (2, *size))
    nn.functional.cross_entropy(out, target).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert grads[-2].abs().sum() > 0  # the classifier's weight (registered last)
    assert grads[0].abs().sum() > 0  # the gradient reaches the first convolution


@pytest.mark.parametrize("name", ["frrn_a", "frrn_b"])
def test_frrn_rejects_indivisible_size(name: str) -> None:
    model = build_model(name, num_classes=3).eval()
    with pytest.raises(ValueError, match="not divisible by"):
        model(torch.rand(1, 3, 64, 72))


def test_csrnet_rejects_tiny_input() -> None:
    with pytest.raises(ValueError, match="minimum"):
        build_model("csrnet_light", num_classes=3).eval()(torch.rand(1, 3, 31, 64))


def _gap_at_scale(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest |actual - expected| as a fraction of max |expected| (the scale of the logits)."""
    return float((actual - expected).abs().max() / expected.abs().max())


# Batch 1 and batch 2 run different CPU convolution kernels: random-weight FRRN A logits reach ~1e3
# and differ by ~2e-6 of that scale (AVX2). Mixing samples moves them by a large part of the scale.
MIXING_TOLERANCE = 1e-4


@pytest.mark.parametrize("name", ["frrn_a", "csrnet_heavy"])
def test_eval_is_deterministic(name: str) -> None:
    torch.manual_seed(1)
    model = build_model(name, num_classes=4).eval()
    x, mate, other_mate = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.inference_mode():
        first, second = model(x), model(x)
        batched = model(torch.cat([x, mate]))
    assert torch.equal(first, second)
    assert _gap_at_scale(batched[:1], first) < MIXING_TOLERANCE  # eval BN: no cross-sample mixing
    # The check has teeth: with batch-statistics BN (a real mixing bug) x's logits follow its batch-mate.
    with torch.no_grad():
        model.train()
        mixed, mixed_other = model(torch.cat([x, mate])), model(torch.cat([x, other_mate]))
    assert _gap_at_scale(mixed[:1], mixed_other[:1]) > 100 * MIXING_TOLERANCE


def test_frrus_are_chained_within_a_stage() -> None:
    """FRRU i+1's inputs are FRRU i's outputs (y', z'), in encoder and decoder stages alike."""
    model = build_model("frrn_a", num_classes=3).eval()
    seen: dict[int, tuple] = {}
    stages = [*model.encoder, *model.decoder]
    units = [u for stage in stages for u in stage.units]

    def recorder(i: int):
        def hook(module: nn.Module, inputs: tuple, output: tuple) -> None:
            seen[i] = (inputs, output)

        return hook

    hooks = [u.register_forward_hook(recorder(i)) for i, u in enumerate(units)]
    with torch.inference_mode():
        model(torch.rand(1, 3, 32, 48))
    for h in hooks:
        h.remove()
    assert len(seen) == len(units) == 17
    pairs = {"encoder": 0, "decoder": 0}
    for part in pairs:
        for stage in getattr(model, part):
            for a, b in zip(stage.units[:-1], stage.units[1:], strict=True):
                (_, _), (y_out, z_out) = seen[units.index(a)]
                (y_in, z_in), _ = seen[units.index(b)]
                assert y_in is y_out and z_in is z_out
                pairs[part] += 1
    assert pairs == {"encoder": 2 + 3 + 1 + 1, "decoder": 1 + 1 + 1}
    # a stage's first FRRU takes the previous stage's y' (pooled or upsampled) and z' (the same tensor)
    for prev, stage in itertools.pairwise(stages):
        (_, _), (y_prev, z_prev) = seen[units.index(prev.units[-1])]
        (y_in, z_in), _ = seen[units.index(stage.units[0])]
        assert z_in is z_prev and y_in.shape[1] == y_prev.shape[1] and y_in is not y_prev
    assert seen[0][0][0].shape[1] == 48 and seen[1][0][0].shape[1] == 96  # stem width, then stage width
    dec0 = units.index(model.decoder[0].units[0])
    (h, w), (h_in, w_in) = seen[dec0 - 1][1][0].shape[-2:], seen[dec0][0][0].shape[-2:]
    assert (h_in, w_in) == (2 * h, 2 * w)  # the decoder's first FRRU gets the bilinearly upsampled y


def test_frru_stage_structure() -> None:
    stage = FRRUStage(48, 3, 96, 2)
    y, z = torch.rand(2, 48, 8, 8), torch.rand(2, 32, 16, 16)
    y2, z2 = stage(y, z)
    assert y2.shape == (2, 96, 8, 8) and z2.shape == z.shape


def _loss_and_grads(model: nn.Module, x: torch.Tensor, t: torch.Tensor):
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), t)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def test_gradient_checkpointing_matches_plain() -> None:
    torch.manual_seed(3)
    plain = build_model("frrn_a", num_classes=4)
    ckpt = build_model("frrn_a", num_classes=4, gradient_checkpointing=True)
    ckpt.load_state_dict(plain.state_dict())
    x, t = torch.rand(2, 3, 32, 48), torch.randint(0, 4, (2, 32, 48))
    loss_p, grads_p = _loss_and_grads(plain.train(), x, t)
    loss_c, grads_c = _loss_and_grads(ckpt.train(), x, t)
    assert torch.allclose(loss_p, loss_c, rtol=1e-5, atol=1e-6)
    assert grads_p.keys() == grads_c.keys()
    for name, g in grads_p.items():
        assert torch.allclose(g, grads_c[name], rtol=1e-4, atol=1e-6), name
    # BN running statistics are updated once per step, as without checkpointing
    for (name, b_p), b_c in zip(plain.state_dict().items(), ckpt.state_dict().values(), strict=True):
        assert torch.allclose(b_p.float(), b_c.float(), rtol=1e-5, atol=1e-6), name


def test_checkpointing_really_recomputes() -> None:
    model = build_model("frrn_a", num_classes=3, gradient_checkpointing=True).train()
    calls = []
    hook = model.encoder[0].units[0].register_forward_hook(lambda *a: calls.append(1))
    model(torch.rand(2, 3, 32, 32)).sum().backward()
    hook.remove()
    assert len(calls) == 2  # forward + recomputation in backward


def test_spfm_grid_follows_aspect_ratio() -> None:
    assert SPFM.grid_size(8, 32, 64) == (8, 16)
    assert SPFM.grid_size(2, 16, 8) == (2, 1)
    assert SPFM.grid_size(4, 3, 4) == (4, 5)
    assert SPFM.grid_size(2, 100, 1) == (2, 1)


def test_srm_attention_is_a_softmax_over_the_pair() -> None:
    srm = SRM(64).eval()
    a, b = srm.attention(torch.rand(3, 128, 5, 7))
    assert a.shape == (3, 128, 1, 1)
    assert torch.allclose(a + b, torch.ones_like(a))
    assert (a > 0).all() and (b > 0).all()
    out = srm(torch.rand(3, 128, 3, 4), torch.rand(3, 64, 5, 7))
    assert out.shape == (3, 128, 5, 7)


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_full_resolution_forward(name: str) -> None:
    model = build_model(name).eval()
    with torch.inference_mode():
        out = model(torch.rand(1, 3, 256, 512))
    assert out.shape == (1, 19, 256, 512)
