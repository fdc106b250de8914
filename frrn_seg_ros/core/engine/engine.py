"""The segmentation engine: frames in, labels / colour / overlay / confidence out, on one device."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..checkpoint import CheckpointMeta, file_sha256
from ..labels import palette_from_colors
from ..models.batchnorm_folding import fold_batchnorm
from .config import DEFAULT_WARMUP_SIZE, EngineConfig, Frame, OutputRequest, SegmentationResult
from .convert import check_frame, to_rgb, upload
from .device import cuda_memory_stats, resolve_device, resolve_precision, torch_threads
from .fast_path import FastPath
from .host_input import host_sources
from .loading import EngineLoading, is_onnx_file
from .postprocess import postprocess, postprocess_host, to_host
from .preprocess import normalisation, plan_geometry, preprocess, preprocess_host
from .timing import StageTimer

__all__ = ["SegmentationEngine", "is_onnx_file"]


class SegmentationEngine(EngineLoading):
    """Run a segmentation model on camera frames: one model, one device, batched by frame shape.

    Built from a file, a checkpoint, an ONNX model or random weights by the class methods of
    :class:`~.loading.EngineLoading` (``from_file`` ...), or from a model and its metadata.

    The model runs with its inference BatchNorms folded into the convolutions before them (a copy:
    see :mod:`~frrn_seg_ros.core.models.batchnorm_folding`).

    Precision: fp16/bf16 run under ``torch.autocast`` (weights stay fp32, so BatchNorm statistics
    and any fp32-only op stay safe; convolutions run in the low precision). The logits are
    upcast to fp32 before upsampling and argmax.
    """

    def __init__(
        self,
        model: nn.Module,
        meta: CheckpointMeta,
        config: EngineConfig | None = None,
        checkpoint_path: str | os.PathLike | None = None,
    ) -> None:
        start = time.perf_counter()
        self._config = config if config is not None else EngineConfig()
        self._config.validate()
        if meta.num_classes > 255:
            raise ValueError(f"{meta.num_classes} classes do not fit uint8 labels (at most 255)")
        self._meta = meta
        self._device = resolve_device(self._config.device)
        self._autocast_dtype = resolve_precision(self._config.precision, self._device)
        if self._device.type == "cpu" and self._config.threads:
            torch.set_num_threads(self._config.threads)  # process-wide, as torch has it
        model = model.eval().to(self._device)
        model, self._batchnorm_folded = fold_batchnorm(model)  # a copy: the caller's model stays as it is
        if self._config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self._model = model
        self._fast = FastPath(model, self._device, self._config.compile, self._config.cuda_graphs)
        self._size_divisor = int(getattr(model, "size_divisor", 1) or 1)
        self._scale, self._bias = normalisation(meta.mean, meta.std, self._device)
        self._palette_np = palette_from_colors(meta.class_colors)
        self._palette = torch.from_numpy(self._palette_np).to(self._device)
        self._sha256 = file_sha256(checkpoint_path) if checkpoint_path is not None else None
        self._random_weights = False
        self._warmup_time_s = 0.0
        self._load_time_s = time.perf_counter() - start
        if self._config.warmup_iters > 0:
            height, width = self._config.input_size or DEFAULT_WARMUP_SIZE
            self._warmup_time_s = self.warmup(height, width)

    # ------------------------------------------------------------------ properties
    @property
    def meta(self) -> CheckpointMeta:
        return self._meta

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def precision(self) -> str:
        return self._config.precision

    @property
    def config(self) -> EngineConfig:
        return self._config

    @property
    def palette(self) -> np.ndarray:
        """``(256, 3)`` uint8 RGB palette indexed by class id (ids without a class are black)."""
        return self._palette_np

    @property
    def class_names(self) -> list[str]:
        return list(self._meta.class_names)

    @property
    def num_classes(self) -> int:
        return self._meta.num_classes

    @property
    def size_divisor(self) -> int:
        return self._size_divisor

    @property
    def input_downsample(self) -> int:
        """Subsampling of frames when no input size is set: the checkpoint's ``input_downsample``
        (the resolution its weights were trained at, e.g. 4 for FRRN A), else 1."""
        value = self._meta.provenance.get("input_downsample", 1)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1

    @property
    def checkpoint_sha256(self) -> str | None:
        return self._sha256

    @property
    def load_time_s(self) -> float:
        return self._load_time_s

    @property
    def warmup_time_s(self) -> float:
        return self._warmup_time_s

    @property
    def random_weights(self) -> bool:
        return self._random_weights

    @property
    def inference_path(self) -> dict[str, object]:
        """Which path runs (``eager``, ``compile``, ``cuda_graphs``, ...) and why (see :mod:`.fast_path`),
        and how many BatchNorms were folded into their convolutions (``batchnorm_folded``)."""
        return {**self._fast.status, "batchnorm_folded": self._batchnorm_folded}

    # ------------------------------------------------------------------ running
    def warmup(self, height: int, width: int) -> float:
        """Run ``max(1, warmup_iters)`` passes on a black ``height x width`` rgb8 frame; seconds."""
        frame = Frame(np.zeros((height, width, 3), dtype=np.uint8), "rgb8")
        start = time.perf_counter()
        for _ in range(max(1, self._config.warmup_iters)):
            self.segment([frame])
        return time.perf_counter() - start

    def segment_rgb(self, rgb: np.ndarray, outputs: OutputRequest | None = None) -> SegmentationResult:
        """Segment one ``(H, W, 3)`` uint8 RGB image."""
        return self.segment([Frame(rgb, "rgb8")], outputs)[0]

    def segment(
        self, frames: Sequence[Frame], outputs: OutputRequest | None = None
    ) -> list[SegmentationResult]:
        """Segment ``frames``; results come back in the same order, at each frame's own size.

        Every frame is validated before any work (:class:`FrameError` names the bad one). Frames
        of equal shape and encoding run as one batched forward pass.
        """
        outputs = outputs if outputs is not None else OutputRequest()
        arrays = []
        for index, frame in enumerate(frames):
            try:
                arrays.append(check_frame(frame, self._config.max_pixels))
            except ValueError as exc:
                if len(frames) == 1:
                    raise
                raise type(exc)(f"frame {index}: {exc}") from None
        groups: dict[tuple, list[int]] = {}
        for index, (frame, array) in enumerate(zip(frames, arrays, strict=True)):
            groups.setdefault((frame.encoding, array.shape), []).append(index)
        timer = StageTimer(self._device)
        host: list[dict[str, np.ndarray] | None] = [None] * len(arrays)
        run_group = self._run_group_host if self._device.type == "cpu" else self._run_group
        with torch.inference_mode():
            timer.start()
            for (encoding, _), indices in groups.items():
                batch = run_group([arrays[i] for i in indices], encoding, outputs, timer)
                for position, index in enumerate(indices):
                    host[index] = batch[position]
            timings = timer.result()
        return [
            SegmentationResult(
                labels=item["labels"],
                color=item.get("color"),
                overlay=item.get("overlay"),
                confidence=item.get("confidence"),
                timings_ms=dict(timings),
            )
            for item in host  # type: ignore[union-attr]
        ]

    def _run_group(
        self, arrays: list[np.ndarray], encoding: str, outputs: OutputRequest, timer: StageTimer
    ) -> list[dict[str, np.ndarray]]:
        """One batched pass over equal-shape frames on the device; host uint8 arrays per frame."""
        raw = upload(arrays, self._device)
        if self._fast.graphs_enabled:  # one replay for the device part: timed as inference
            timer.mark("convert")
            key = (encoding, outputs.color, outputs.overlay, outputs.confidence)
            on_device = self._fast.run(key, raw, lambda r: self._on_device(r, encoding, outputs, None))
            timer.mark("inference")
        else:
            on_device = self._on_device(raw, encoding, outputs, timer)
        result = to_host(on_device)
        timer.mark("postprocess")
        return [{name: t[i].numpy() for name, t in result.items()} for i in range(len(arrays))]

    def _run_group_host(
        self, arrays: list[np.ndarray], encoding: str, outputs: OutputRequest, timer: StageTimer
    ) -> list[dict[str, np.ndarray]]:
        """The same pass on a CPU: OpenCV conversion / resize and the exact boundary-band labels
        (see :func:`postprocess_host`) around the model."""
        geometry = plan_geometry(
            arrays[0].shape[:2], self._config.input_size, self._config.resize_mode, self._size_divisor,
            self.input_downsample,
        )
        images, after_resize, frames = host_sources(arrays, encoding, geometry.resized, outputs.overlay)
        timer.mark("convert")
        with torch_threads(1):  # short torch ops: robust on a busy CPU (see torch_threads)
            x = preprocess_host(images, geometry, self._scale, self._bias, self._config.channels_last,
                                after_resize)
        timer.mark("preprocess")
        logits = self._infer(x)
        timer.mark("inference")
        alpha = self._config.overlay_alpha
        with torch_threads(1):
            result = postprocess_host(logits, geometry, frames, self._palette_np, outputs, alpha)
        timer.mark("postprocess")
        return result

    def _on_device(
        self, raw: torch.Tensor, encoding: str, outputs: OutputRequest, timer: StageTimer | None
    ) -> dict[str, torch.Tensor]:
        """``(N, H, W, C)`` raw frames on the device -> uint8 device outputs; no host round trip."""
        mark = timer.mark if timer is not None else lambda stage: None
        rgb = to_rgb(raw, encoding)
        mark("convert")
        geometry = plan_geometry(
            tuple(rgb.shape[-2:]), self._config.input_size, self._config.resize_mode, self._size_divisor,
            self.input_downsample,
        )
        x = preprocess(rgb, geometry, self._scale, self._bias, self._config.channels_last)
        mark("preprocess")
        logits = self._infer(x)
        mark("inference")
        return postprocess(logits, geometry, rgb, self._palette, outputs, self._config.overlay_alpha)

    def _infer(self, x: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            logits = self._fast.forward(x)
        return self._check_logits(logits, x)

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """The model alone on the engine's path and precision (for benchmarks).

        ``x``: ``(N, 3, H, W)`` float32 normalised input on :attr:`device` -> ``(N, C, H, W)`` logits
        (a CUDA graph's static output with ``cuda_graphs``: read it before the next call).
        """
        with torch.inference_mode():
            return self._fast.run("model", x, self._infer)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        # no weight-cast cache: each weight is cast once per forward anyway, and CUDA graphs need it off
        return torch.autocast(device_type=self._device.type, dtype=self._autocast_dtype, cache_enabled=False)

    def _check_logits(self, logits: object, x: torch.Tensor) -> torch.Tensor:
        if isinstance(logits, dict):
            logits = logits["out"]
        elif isinstance(logits, (tuple, list)):
            logits = logits[0]
        expected = (x.shape[0], self.num_classes, *x.shape[-2:])
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise RuntimeError(
                f"{type(self._model).__name__} returned {shape}; the engine needs logits "
                f"(N, num_classes, H, W) = {expected} at the input size"
            )
        return logits

    @property
    def backend_info(self) -> dict[str, str]:
        """``backend`` that runs the network (``pytorch``, ``onnxruntime``, ...) and, for
        ``model.backend: auto``, why a size fell back to PyTorch (for diagnostics)."""
        info = getattr(self._model, "backend_info", None)
        if info is not None:
            return dict(info)
        return {"backend": "onnxruntime" if hasattr(self._model, "session") else "pytorch"}

    def memory_stats(self) -> dict[str, float]:
        """GPU memory in MB (allocated, peak allocated, reserved) on CUDA; ``{}`` on CPU."""
        return cuda_memory_stats(self._device)

