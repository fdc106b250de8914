"""Static facts about each architecture: input scaling, size divisor, paper figures.

Kept free of torch so that :mod:`frrn_seg_ros.core.checkpoint` (and anything else) can read it
cheaply. ``mean``/``std`` apply to RGB scaled to [0, 1]: ``x = (rgb / 255 - mean) / std``.
"""

from __future__ import annotations

from dataclasses import dataclass

UNIT_MEAN: tuple[float, float, float] = (0.0, 0.0, 0.0)
UNIT_STD: tuple[float, float, float] = (1.0, 1.0, 1.0)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ArchitectureInfo:
    """What a user of an architecture must know without building it.

    ``size_divisor``: input H and W must be multiples of it (FRRN) or are padded to it by the engine.
    ``paper_params_m``: parameter count (millions, 19 classes) the paper reports, or None.
    """

    name: str
    size_divisor: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    paper_params_m: float | None
    description: str


_INFOS: dict[str, ArchitectureInfo] = {
    info.name: info
    for info in (
        ArchitectureInfo(
            "frrn_a", 16, UNIT_MEAN, UNIT_STD, 17.7,
            "FRRN A (Pohlen et al., CVPR 2017): 17 FRRUs, 4 poolings; for quarter-resolution Cityscapes",
        ),
        ArchitectureInfo(
            "frrn_b", 32, UNIT_MEAN, UNIT_STD, 24.8,
            "FRRN B (Pohlen et al., CVPR 2017): 21 FRRUs, 5 poolings; for half-resolution Cityscapes",
        ),
        ArchitectureInfo(
            "csrnet_light", 32, IMAGENET_MEAN, IMAGENET_STD, None,
            "CSRNet-light (Xiong et al.): ResNet-18, 3 SPFMs, 3 SRMs",
        ),
        ArchitectureInfo(
            "csrnet_medium", 32, IMAGENET_MEAN, IMAGENET_STD, None,
            "CSRNet-medium (Xiong et al.): ResNet-18, 3 SPFMs, 4 SRMs",
        ),
        ArchitectureInfo(
            "csrnet_heavy", 32, IMAGENET_MEAN, IMAGENET_STD, 12.8,
            "CSRNet-heavy (Xiong et al., the released model): ResNet-18, 3 SPFMs, 6 SRMs",
        ),
    )
}

ARCHITECTURES: tuple[str, ...] = tuple(_INFOS)


def architecture_info(name: str) -> ArchitectureInfo:
    """The :class:`ArchitectureInfo` of ``name``; ValueError naming the valid ones if unknown."""
    try:
        return _INFOS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; valid: {', '.join(ARCHITECTURES)}") from None
