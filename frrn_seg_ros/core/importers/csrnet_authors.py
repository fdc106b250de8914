"""Mayy1994/CSRNet's released ``best.pth`` -> our ``csrnet_heavy`` state dict.

Their val.py builds ``SemsegModel(resnet18(efficient=False, num_features=128), 19)`` and calls
``net.load_state_dict(torch.load(path))``: the file is a plain state dict of that model (accepted
too: wrapped under ``'state_dict'`` or ``'model'``, and with DataParallel's ``module.`` prefix).
Their module names (csrnet_feat.py, util2.py, util.py, csrnet_seg.py) map one to one onto ours:

======================================  ==============================================
theirs                                  ours
======================================  ==============================================
backbone.conv1/bn1/layer1..4.*          backbone.* (same ResNet-18 names)
backbone.spp / spp_up1 / spp_up2        spfm32 / spfm16 / spfm8 (SPFM of stage 1/2/3)
  .spp.spp_bn / .spp.spp{i} / spp_fuse    .reduce / .branches.{i} / .fuse
backbone.upsample.{0,1,2}               srm1_16, srm1_8, srm1_4 (stage 1 SRMs)
backbone.upsample_up2.{0,1}             srm2_8, srm2_4
backbone.upsample_up3.0                 srm3_4
  .bottleneck / .sk.fc / .sk.fc1          .skip / .squeeze / .fc_low
  .sk.fc2 / .sk.conv_out / .blend_conv    .fc_skip / .mix / .blend
logits.norm / logits.conv               head.0 / head.2
======================================  ==============================================

Their util2 ``_BNReluConv`` is conv -> norm -> relu (our ConvBNReLU ``.0`` / ``.1``); the head's
(util.py) is norm -> relu -> conv. ``backbone.img_mean`` / ``img_std`` are buffers their forward
never reads (inputs are ImageNet-normalised by their data loader): dropped on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CheckpointError, torch_load_weights_only
from .errors import ImportedWeights, WeightsImportError, shape_error

ARCHITECTURE = "csrnet_heavy"
#: the paper's Cityscapes mIoU for CSRNet-heavy (Table 1); their csrnet_val.log: mIOU 0.773450
PAPER_MIOU = {"cityscapes_val": 77.3, "cityscapes_test": 76.0}
DROPPED_KEYS = ("backbone.img_mean", "backbone.img_std")  # unused by their forward
DATA_PARALLEL_PREFIX = "module."
WRAPPER_KEYS = ("state_dict", "model")

# Their module prefix -> ours, for every module holding weights outside the ResNet-18 trunk.
_SPFMS = {"backbone.spp": "spfm32", "backbone.spp_up1": "spfm16", "backbone.spp_up2": "spfm8"}
_SRMS = {
    "backbone.upsample.0": "srm1_16", "backbone.upsample.1": "srm1_8", "backbone.upsample.2": "srm1_4",
    "backbone.upsample_up2.0": "srm2_8", "backbone.upsample_up2.1": "srm2_4",
    "backbone.upsample_up3.0": "srm3_4",
}
_SPFM_PARTS = {"spp.spp_bn.conv": "reduce.0", "spp.spp_bn.norm": "reduce.1",
               "spp.spp0.conv": "branches.0.0", "spp.spp0.norm": "branches.0.1",
               "spp.spp1.conv": "branches.1.0", "spp.spp1.norm": "branches.1.1",
               "spp.spp2.conv": "branches.2.0", "spp.spp2.norm": "branches.2.1",
               "spp.spp_fuse.conv": "fuse.0", "spp.spp_fuse.norm": "fuse.1"}
_SRM_PARTS = {"bottleneck.conv": "skip.0", "bottleneck.norm": "skip.1",
              "sk.fc.conv": "squeeze.0", "sk.fc.norm": "squeeze.1",
              "sk.fc1": "fc_low", "sk.fc2": "fc_skip",
              "sk.conv_out.conv": "mix.0", "sk.conv_out.norm": "mix.1",
              "blend_conv.conv": "blend.0", "blend_conv.norm": "blend.1"}
_HEAD = {"logits.norm": "head.0", "logits.conv": "head.2"}
_TRUNK = ("backbone.conv1.", "backbone.bn1.", "backbone.layer1.", "backbone.layer2.",
          "backbone.layer3.", "backbone.layer4.")


def module_map() -> dict[str, str]:
    """Their module prefix -> our module prefix for the decoder and head (trunk names are equal)."""
    table = dict(_HEAD)
    for theirs, ours in _SPFMS.items():
        table.update({f"{theirs}.{t}": f"{ours}.{o}" for t, o in _SPFM_PARTS.items()})
    for theirs, ours in _SRMS.items():
        table.update({f"{theirs}.{t}": f"{ours}.{o}" for t, o in _SRM_PARTS.items()})
    return table


OURS_TO_THEIRS = {ours: theirs for theirs, ours in module_map().items()}


def their_key(our_key: str) -> str:
    """The key in their state dict that holds our ``our_key`` (KeyError if we have no mapping)."""
    if our_key.startswith(_TRUNK):
        return our_key
    module, _, leaf = our_key.rpartition(".")
    return f"{OURS_TO_THEIRS[module]}.{leaf}"


def convert(path: Path, architecture: str | None) -> ImportedWeights:
    """Read their ``best.pth`` at ``path``; return our csrnet_heavy state dict and provenance.

    Every key is accounted for: missing, unexpected or mis-shaped keys raise
    :class:`WeightsImportError` naming the key and the expected and found shapes.
    """
    if architecture not in (None, ARCHITECTURE):
        raise WeightsImportError(f"csrnet-authors holds the released {ARCHITECTURE} only, "
                                 f"not {architecture!r}")
    state, layout = _read_state_dict(Path(path))
    expected = _our_state_template()
    converted: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for ours, template in expected.items():
        theirs = their_key(ours)
        if theirs not in state:
            if ours.endswith("num_batches_tracked"):
                converted[ours] = torch.zeros((), dtype=torch.long)
                continue
            raise WeightsImportError(
                f"{path}: missing key {theirs!r} (expected shape {tuple(template.shape)}; "
                f"{_count_missing(expected, state)} keys of {len(expected)} missing)"
                + _foreign_hint(state, expected))
        value = state[theirs]
        if not isinstance(value, torch.Tensor):
            raise WeightsImportError(f"{path}: key {theirs!r} holds a {type(value).__name__}, "
                                     f"expected a tensor of shape {tuple(template.shape)}")
        if tuple(value.shape) != tuple(template.shape):
            raise shape_error(f"{path}: key {theirs!r}", tuple(template.shape), tuple(value.shape))
        converted[ours] = value.detach().to(template.dtype).clone()
        used.add(theirs)
    extra = sorted(set(state) - used - set(DROPPED_KEYS))
    if extra:
        first = state[extra[0]]
        shape = tuple(first.shape) if isinstance(first, torch.Tensor) else type(first).__name__
        raise WeightsImportError(f"{path}: unexpected key {extra[0]!r} (shape {shape}; {len(extra)} "
                                 f"unexpected keys in all), not part of their csrnet model")
    dropped = [k for k in DROPPED_KEYS if k in state]
    layout += ("; dropped " + ", ".join(dropped) + " (input-scaling buffers their forward never reads;"
               " inputs are ImageNet mean/std normalised)") if dropped else ""
    provenance: dict[str, Any] = {"paper_miou": PAPER_MIOU, "input_downsample": 1,
                                  "source_layout": layout}
    return ImportedWeights(ARCHITECTURE, converted, provenance)


def _read_state_dict(path: Path) -> tuple[dict[str, Any], str]:
    """Their state dict with wrapper and ``module.`` prefix removed, and a note of the layout."""
    try:
        payload = torch_load_weights_only(path, what="CSRNet authors' weights file")
    except CheckpointError as exc:
        raise WeightsImportError(str(exc)) from None
    layout = "state dict of SemsegModel(resnet18(efficient=False, num_features=128), 19)"
    if isinstance(payload, dict):
        for wrapper in WRAPPER_KEYS:
            if isinstance(payload.get(wrapper), dict):
                payload = payload[wrapper]
                layout += f", under {wrapper!r}"
                break
    if not isinstance(payload, dict) or not payload:
        found = "an empty dict" if isinstance(payload, dict) else f"a {type(payload).__name__}"
        raise WeightsImportError(f"{path}: expected a state dict (key -> tensor), found {found}")
    if not all(isinstance(k, str) for k in payload):
        raise WeightsImportError(f"{path}: expected a state dict with string keys")
    if all(k.startswith(DATA_PARALLEL_PREFIX) for k in payload):
        payload = {k[len(DATA_PARALLEL_PREFIX):]: v for k, v in payload.items()}
        layout += f", keys prefixed {DATA_PARALLEL_PREFIX!r} (DataParallel)"
    return payload, layout


def _our_state_template() -> dict[str, torch.Tensor]:
    """Our csrnet_heavy's state dict on the meta device: key order, shapes and dtypes, no data."""
    from ..labels import CITYSCAPES
    from ..models import build_model

    with torch.device("meta"):
        return build_model(ARCHITECTURE, num_classes=CITYSCAPES.num_classes).state_dict()


def _count_missing(expected: dict, state: dict) -> int:
    return sum(their_key(k) not in state for k in expected if not k.endswith("num_batches_tracked"))


def _foreign_hint(state: dict, expected: dict) -> str:
    """A note when (almost) none of the file's keys are CSRNet's: another model's file."""
    ours = {their_key(k) for k in expected}
    if sum(k in ours for k in state) < len(state) // 2:
        return "; this is not a CSRNet SemsegModel state dict (another model's file?)"
    return ""
