"""The two recipes' sample pipelines for training data: raw (image, label) arrays -> network-ready
tensors (the node's frame pipeline is :mod:`frrn_seg_ros.ros.pipeline`).

- FRRN: downsample the image (area/Lanczos) by ``downsample``; in training also the label by
  block majority vote, then random translation and gamma. In evaluation the label stays at full
  resolution (logits are upsampled to it, as in the paper).
- CSRNet: in training optional colour jitter (``color_jitter``), random horizontal flip, scale
  from ``scales``, random crop ``crop`` (a smaller image padded with the mean colour / void, or
  with ``crop_mode='cover'`` upscaled to cover the crop); evaluation is single scale, full size.
Both finish with ``(x - mean) / std`` on RGB in [0, 1] using the architecture's mean/std.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import transforms as T


@dataclass
class PipelineConfig:
    """Augmentation settings (the recipe's ``data`` section, minus dataset location)."""

    kind: str = "frrn"  # 'frrn' or 'csrnet'
    downsample: int = 1  # input subsampling factor (FRRN: 4 for A, 2 for B)
    downsample_method: str = "area"
    translate: int = 0  # FRRN max |dx|, |dy| in pixels at the training resolution
    gamma: float = 0.0  # FRRN max |g|
    hflip: bool = False
    scales: list[float] = field(default_factory=lambda: [1.0])
    crop: list[int] | None = None  # [h, w]
    crop_mode: str = "pad"  # 'pad' or 'cover' (image smaller than the crop)
    color_jitter: float = 0.0  # CSRNet released: brightness/contrast/saturation in [1-j, 1+j]
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.kind not in ("frrn", "csrnet"):
            raise ValueError(f"data.kind={self.kind!r}: expected 'frrn' or 'csrnet'")
        if int(self.downsample) < 1:
            raise ValueError(f"data.downsample={self.downsample!r}: expected an integer >= 1")
        if self.crop is not None and (len(self.crop) != 2 or min(self.crop) < 1):
            raise ValueError(f"data.crop={self.crop!r}: expected [height, width] or null")
        if self.crop_mode not in ("pad", "cover"):
            raise ValueError(f"data.crop_mode={self.crop_mode!r}: expected 'pad' or 'cover'")
        if not 0.0 <= float(self.color_jitter) < 1.0:
            raise ValueError(f"data.color_jitter={self.color_jitter!r}: expected 0 <= j < 1")


class SamplePipeline:
    """One dataset sample's augmentation and normalisation, as a callable
    ``(image, label, rng, train) -> (image [3,H,W] float32, label [H',W'] int64)``."""

    def __init__(self, config: PipelineConfig) -> None:
        self.cfg = config

    def _downsample(self, image: np.ndarray, label: np.ndarray, train: bool) -> tuple[np.ndarray, np.ndarray]:
        f = int(self.cfg.downsample)
        if f == 1:
            return image, label
        size = (label.shape[0] // f, label.shape[1] // f)
        image = T.downsample_image(image, size, self.cfg.downsample_method)
        if train:
            label = T.majority_vote_downsample(label, f)
        return image, label

    def __call__(
        self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator, train: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        image, label = self._downsample(image, label, train)
        if train and cfg.kind == "frrn":
            image, label = T.random_translate(image, label, int(cfg.translate), rng)
            if cfg.gamma > 0:
                image = T.random_gamma(image, float(cfg.gamma), rng)
        elif train:
            image = T.random_color_jitter(image, float(cfg.color_jitter), rng)
            if cfg.hflip:
                image, label = T.random_hflip(image, label, rng)
            scale = float(rng.choice(np.asarray(cfg.scales, dtype=np.float64)))
            image, label = T.scale_pair(image, label, scale)
            if cfg.crop is not None:
                image, label = T.random_crop(
                    image, label, tuple(cfg.crop), rng, fill=T.mean_fill(cfg.mean), mode=cfg.crop_mode
                )
        return T.to_tensor(image, label, cfg.mean, cfg.std)
