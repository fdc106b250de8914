"""Plain data of the engine: its settings, what a caller asks for, one input frame, one result."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
PRECISIONS = ("fp32", "fp16", "bf16")
RESIZE_MODES = ("resize", "letterbox")
DEFAULT_WARMUP_SIZE = (512, 1024)


@dataclass
class EngineConfig:
    """Runtime knobs of :class:`~frrn_seg_ros.core.engine.SegmentationEngine`.

    - ``device``: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    - ``precision``: ``fp32``, ``fp16`` (CUDA only) or ``bf16`` (autocast on CPU and CUDA).
    - ``input_size``: ``(H, W)`` of the network input; ``None`` runs each frame at its own size
      (padded right/bottom to the model's ``size_divisor``).
    - ``resize_mode``: ``resize`` (stretch) or ``letterbox`` (keep aspect, centre, zero-pad in
      normalised space); only used with ``input_size``.
    - ``warmup_iters``: forwards run at construction (0 disables the warm-up).
    - ``overlay_alpha``: weight of the class colour in the overlay, in [0, 1].
    - ``max_pixels``: frames with more than this many pixels are refused (FrameError).
    - ``compile`` / ``cuda_graphs``: the fast path for fixed input sizes (``torch.compile`` of the
      model; CUDA graphs of each whole device call), falling back to eager on any failure: see
      :mod:`~frrn_seg_ros.core.engine.fast_path`.
    - ``threads``: CPU threads for the network (PyTorch intra-op and ONNX Runtime intra-op);
      0 = automatic: ONNX Runtime gets the cores this process may use, without spin-waiting,
      and PyTorch keeps its own setting.
    """

    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = True
    input_size: tuple[int, int] | None = None
    resize_mode: str = "resize"
    warmup_iters: int = 2
    overlay_alpha: float = 0.5
    max_pixels: int = 4096 * 4096
    compile: bool = False
    cuda_graphs: bool = False
    threads: int = 0

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field and the values it accepts."""
        if not isinstance(self.device, str) or not DEVICE_PATTERN.match(self.device):
            raise _bad("device", self.device, "expected auto, cpu, cuda or cuda:N")
        if self.precision not in PRECISIONS:
            raise _bad("precision", self.precision, f"expected one of {PRECISIONS}")
        for name in ("channels_last", "compile", "cuda_graphs"):
            if not isinstance(getattr(self, name), bool):
                raise _bad(name, getattr(self, name), "expected a bool")
        if self.input_size is not None:
            size = self.input_size
            if (
                not isinstance(size, (tuple, list))
                or len(size) != 2
                or not all(_is_int(v) for v in size)
                or min(size) < 1
            ):
                raise _bad("input_size", size, "expected None or (height, width) positive ints")
            self.input_size = (int(size[0]), int(size[1]))
        if self.resize_mode not in RESIZE_MODES:
            raise _bad("resize_mode", self.resize_mode, f"expected one of {RESIZE_MODES}")
        if not _is_int(self.warmup_iters) or self.warmup_iters < 0:
            raise _bad("warmup_iters", self.warmup_iters, "expected an int >= 0")
        alpha = self.overlay_alpha
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise _bad("overlay_alpha", alpha, "expected a number in [0, 1]")
        if not _is_int(self.max_pixels) or self.max_pixels < 1:
            raise _bad("max_pixels", self.max_pixels, "expected an int >= 1")
        if not _is_int(self.threads) or self.threads < 0:
            raise _bad("threads", self.threads, "expected an int >= 0 (0 = automatic)")


class ConfigError(ValueError):
    """An engine setting that is invalid (or that this machine cannot run).

    ``field`` is the :class:`EngineConfig` attribute concerned, so a caller can name its own
    setting (the node: its ROS parameter) without reading the message.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _bad(field: str, value: object, expected: str) -> ConfigError:
    return ConfigError(field, f"EngineConfig.{field}={value!r}: {expected}")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass
class OutputRequest:
    """Which images to compute besides the label ids (each one costs device time and a copy)."""

    color: bool = True
    overlay: bool = False
    confidence: bool = False


@dataclass
class Frame:
    """One image as it arrives from a camera.

    ``data`` is ``(H, W)`` or ``(H, W, C)`` with the dtype of ``encoding`` (see
    :mod:`frrn_seg_ros.core.encodings`): uint8, or uint16 for ``mono16``/``16UC1``; ``yuv422``
    variants are ``(H, W, 2)`` uint8 with an even ``W``; Bayer mosaics are ``(H, W)`` uint8.
    """

    data: np.ndarray
    encoding: str


@dataclass
class SegmentationResult:
    """The outputs for one frame, all at the frame's own resolution.

    - ``labels``: ``(H, W)`` uint8 class ids.
    - ``color``: ``(H, W, 3)`` uint8 RGB palette image, or None if not requested.
    - ``overlay``: ``(H, W, 3)`` uint8 RGB blend ``alpha * color + (1 - alpha) * input``, or None.
    - ``confidence``: ``(H, W)`` uint8 ``round(255 * max softmax)``, or None.
    - ``timings_ms``: ``convert``, ``preprocess``, ``inference``, ``postprocess`` and ``total`` of
      the :meth:`segment` call this frame was part of.
    """

    labels: np.ndarray
    color: np.ndarray | None = None
    overlay: np.ndarray | None = None
    confidence: np.ndarray | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
