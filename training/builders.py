"""Recipe dict -> model, sample pipeline and loss (shared by the trainer and the benchmark)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from frrn_seg_ros.core.models import architecture_info, build_model
from frrn_seg_ros.core.models.blocks import SPFM

from .losses import build_loss
from .sample_pipeline import PipelineConfig, SamplePipeline

#: ``model.pretrained_backbone`` value for "train the backbone from scratch on purpose".
SCRATCH = "scratch"


def apply_init_scheme(model: nn.Module, scheme: str) -> None:
    """Re-initialise the trainable-from-scratch layers with ``model.init``'s scheme (``paper`` is
    what the constructor already did; ``released`` re-runs the model's own init function with the
    authors' gains). CSRNet's backbone (ImageNet weights or its own init) is left as it is."""
    if scheme == "paper":
        return
    if hasattr(model, "_init_decoder"):
        model._init_decoder(scheme)  # CSRNet
    elif hasattr(model, "_init_weights"):
        model._init_weights(scheme)  # FRRN
    else:
        raise ValueError(f"model.init={scheme!r}: {type(model).__name__} has no selectable init")


def set_spfm_bn_momentum(model: nn.Module, momentum: float) -> int:
    """Set the momentum of every BatchNorm inside the model's SPFMs (CSRNet released code: 0.01 / 2
    on all BNs of its ``SpatialPyramidPooling``, util2.py); returns how many were set."""
    count = 0
    for spfm in (m for m in model.modules() if isinstance(m, SPFM)):
        for bn in (m for m in spfm.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.momentum, count = float(momentum), count + 1
    return count


def make_model(cfg: dict[str, Any]) -> nn.Module:
    """Build the recipe's model (init scheme and SPFM BatchNorm momentum applied); a missing
    ``pretrained_backbone`` file is an error naming it."""
    m = cfg["model"]
    kwargs: dict[str, Any] = {}
    if m["name"].startswith("frrn"):
        kwargs["gradient_checkpointing"] = bool(m["gradient_checkpointing"])
    if m.get("pretrained_backbone") and m["pretrained_backbone"] != SCRATCH:
        path = Path(str(m["pretrained_backbone"])).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"model.pretrained_backbone: ImageNet ResNet-18 weights file not found: {path} "
                "(provide torchvision's resnet18 state dict; nothing is downloaded)"
            )
        if not m["name"].startswith("csrnet"):
            raise ValueError(f"model.pretrained_backbone is only used by CSRNet, not {m['name']}")
        kwargs["pretrained_backbone"] = str(path)
    model = build_model(m["name"], num_classes=int(m["num_classes"]), **kwargs)
    apply_init_scheme(model, str(m.get("init", "paper")))
    set_spfm_bn_momentum(model, float(m.get("spfm_bn_momentum", 0.1)))
    return model


def scratch_backbone_warning(cfg: dict[str, Any]) -> str | None:
    """The warning to show when a CSRNet recipe has no ImageNet backbone file (else None).

    Training from scratch is allowed (tests and the demo do it) but is not the paper's recipe;
    ``model.pretrained_backbone: scratch`` says it is meant, and silences the warning.
    """
    m = cfg["model"]
    if not str(m["name"]).startswith("csrnet") or m.get("pretrained_backbone"):
        return None
    bar = "!" * 78
    return (
        f"\n{bar}\n{m['name']}: model.pretrained_backbone is not set, so the ResNet-18 backbone is "
        "trained FROM SCRATCH.\nThe CSRNet paper starts from ImageNet weights; expect a much lower "
        "mIoU than the paper's.\nNothing is downloaded: get torchvision's resnet18 state dict "
        "(resnet18-f37072fd.pth) yourself and pass\n    --set model.pretrained_backbone="
        f"/path/to/resnet18-f37072fd.pth\n(or model.pretrained_backbone={SCRATCH} to say it is meant)\n{bar}"
    )


def make_pipeline(cfg: dict[str, Any]) -> SamplePipeline:
    d, info = cfg["data"], architecture_info(cfg["model"]["name"])
    return SamplePipeline(
        PipelineConfig(
            kind=d["kind"],
            downsample=int(d["downsample"]),
            downsample_method=d["downsample_method"],
            translate=int(d["translate"]),
            gamma=float(d["gamma"]),
            hflip=bool(d["hflip"]),
            scales=list(d["scales"]),
            crop=d["crop"],
            crop_mode=str(d["crop_mode"]),
            color_jitter=float(d["color_jitter"]),
            mean=info.mean,
            std=info.std,
        )
    )


def make_loss(cfg: dict[str, Any]) -> nn.Module:
    """The recipe's loss (``loss.name``; bootstrapped CE takes ``loss.k`` / ``loss.fraction``)."""
    loss = cfg["loss"]
    if loss["name"] == "bootstrapped_ce":
        return build_loss("bootstrapped_ce", k=loss["k"], fraction=float(loss["fraction"]))
    return build_loss(loss["name"])
