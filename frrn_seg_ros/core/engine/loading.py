"""Ways to build a :class:`~.engine.SegmentationEngine`: from a file (checkpoint or ONNX, with
the backend chosen), a checkpoint, an exported ONNX model, or random weights of an architecture."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Self

from ..checkpoint import default_meta, file_sha256, load_model
from ..labels import CITYSCAPES, LabelSet
from .config import EngineConfig
from .device import resolve_device

logger = logging.getLogger(__name__)


class EngineLoading:
    """The constructors of :class:`~.engine.SegmentationEngine` (mixed into it): each reads or
    builds a model and its metadata, then calls ``cls(model, meta, config, checkpoint_path)``."""

    @classmethod
    def from_file(
        cls, path: str | os.PathLike, config: EngineConfig | None = None, backend: str = "auto"
    ) -> Self:
        """A node checkpoint through PyTorch, or an exported ``.onnx`` through ONNX Runtime.

        ``backend``: ``torch``, ``onnxruntime``, or ``auto``: ONNX Runtime for a ``.onnx`` file,
        and for a checkpoint on a CPU in fp32 too, exported once and cached (see
        :mod:`frrn_seg_ros.core.ort_cache`; PyTorch where that fails).
        """
        if backend == "onnxruntime" or (backend == "auto" and is_onnx_file(path)):
            return cls.from_onnx(path, config)
        return cls.from_checkpoint(path, config, auto_backend=backend == "auto")

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike, config: EngineConfig | None = None, auto_backend: bool = False
    ) -> Self:
        """Load a checkpoint (weights-only; :class:`CheckpointError` propagates) and build the engine.

        ``auto_backend``: on a CPU in fp32, run through ONNX Runtime where possible
        (:class:`~frrn_seg_ros.core.ort_cache.AutoBackendModel`)."""
        start = time.perf_counter()
        model, meta = load_model(path)
        config = config if config is not None else EngineConfig()
        if auto_backend and config.precision == "fp32" and resolve_device(config.device).type == "cpu":
            from ..ort_cache import AutoBackendModel

            model = AutoBackendModel(model, meta, file_sha256(path), threads=config.threads or None)
        read_s = time.perf_counter() - start
        engine = cls(model, meta, config, checkpoint_path=path)
        engine._load_time_s += read_s
        logger.info(
            "loaded %s (%d classes) from %s in %.2f s on %s/%s",
            meta.architecture, meta.num_classes, path, engine.load_time_s, engine.device, engine.precision,
        )
        return engine

    @classmethod
    def from_onnx(
        cls, path: str | os.PathLike, config: EngineConfig | None = None, providers: list[str] | None = None
    ) -> Self:
        """Run an exported ONNX model through ONNX Runtime (TensorRT > CUDA > CPU providers).

        A file exported at a fixed size sets ``config.input_size`` when it is unset, so frames of any
        size are resized to it (and the result brought back to the frame's size).
        """
        from ..onnx_model import load_onnx_model

        start = time.perf_counter()
        config = config if config is not None else EngineConfig()
        device = resolve_device(config.device)  # the session is made for it, with its precision
        model, meta = load_onnx_model(path, providers=providers, device=device, precision=config.precision)
        fixed = getattr(model, "input_size", None)
        if fixed is not None and config.input_size is None:
            config = dataclasses.replace(config, input_size=tuple(fixed))
        read_s = time.perf_counter() - start
        engine = cls(model, meta, config, checkpoint_path=path)
        engine._load_time_s += read_s
        logger.info("loaded ONNX model %s (%s) with %s", path, meta.architecture, model.providers)
        return engine

    @classmethod
    def from_architecture(
        cls, architecture: str, config: EngineConfig | None = None, label_set: LabelSet = CITYSCAPES
    ) -> Self:
        """An engine with RANDOM weights (for smoke tests and benchmarks): its output is meaningless."""
        from ..models import build_model

        logger.warning(
            "RANDOM WEIGHTS: %s has no checkpoint; segmentation output is meaningless "
            "(use for plumbing tests and speed measurements only)", architecture,
        )
        start = time.perf_counter()
        model = build_model(architecture, num_classes=label_set.num_classes)
        meta = default_meta(architecture, label_set, weights="random")
        build_s = time.perf_counter() - start
        engine = cls(model, meta, config)
        engine._random_weights = True
        engine._load_time_s += build_s
        return engine


def is_onnx_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an exported ONNX model (by its suffix)."""
    return os.fspath(path).lower().endswith(".onnx")
