"""Run an exported ONNX model through ONNX Runtime behind the same interface as a PyTorch model.

:class:`OnnxSegmentationModel` is an ``nn.Module`` whose ``forward`` takes ``[N, 3, H, W]`` float
(normalised) and returns logits ``[N, C, H, W]`` on the input's device, so the engine can use it
in place of the PyTorch network.

Execution providers (:func:`choose_providers`): an explicit list, else TensorRT > CUDA > CPU among
those installed, for the device the model runs on: ``cpu`` uses the CPU provider only (even where
CUDA providers are installed); ``cuda:N`` passes ``device_id=N`` to the CUDA and TensorRT
providers. TensorRT builds its engines in fp16 when the precision is fp16
(``trt_fp16_enable``) and caches them (and its timing cache) in ``trt_cache_dir`` (default
``$FRRN_SEG_TRT_CACHE`` or ``~/.cache/frrn_seg_ros/trt``), so a restart does not rebuild them.

The session is created for a device: the one given to the constructor, else (what the engine
does: ``model.to(device)`` then ``forward``) the device of the first input, with the precision
of the ``torch.autocast`` region that call runs in. On CUDA with a CUDA/TensorRT provider,
inputs and outputs stay on the GPU through io_binding; otherwise they go through numpy on the CPU.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointError, CheckpointMeta
from .model_export import ExportInfo, read_onnx_meta

LOG = logging.getLogger(__name__)
TENSORRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
PREFERRED_PROVIDERS = (TENSORRT, CUDA, CPU)
GPU_PROVIDERS = (TENSORRT, CUDA)
TRT_CACHE_ENV = "FRRN_SEG_TRT_CACHE"
ProviderList = list[tuple[str, dict[str, str]]]


def default_trt_cache_dir() -> Path:
    """Where TensorRT engines are cached: ``$FRRN_SEG_TRT_CACHE`` or ``~/.cache/frrn_seg_ros/trt``."""
    return Path(os.environ.get(TRT_CACHE_ENV) or Path.home() / ".cache" / "frrn_seg_ros" / "trt")


def choose_providers(
    requested: list[str] | None = None,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    available: list[str] | None = None,
    trt_cache_dir: str | Path | None = None,
) -> ProviderList:
    """``[(provider, options), ...]`` for ``onnxruntime.InferenceSession``.

    ``requested``: use exactly these (each must be in ``available``, default: the installed ones).
    Otherwise: ``device`` ``cpu`` -> the CPU provider only; anything else (``cuda[:N]``, ``auto``,
    None) -> TensorRT > CUDA > CPU among the available ones. GPU providers get
    ``device_id`` (N of ``cuda:N``, else 0); TensorRT also gets ``trt_fp16_enable`` (precision
    ``fp16``) and its engine and timing caches in ``trt_cache_dir``.
    """
    if available is None:
        import onnxruntime as ort

        available = list(ort.get_available_providers())
    dev = None if device in (None, "auto") else torch.device(device)
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise ValueError(f"ONNX Runtime providers {missing} are not installed; available: {available}")
        names = list(requested)
    elif dev is not None and dev.type == "cpu":
        names = [CPU]
    else:
        names = [p for p in PREFERRED_PROVIDERS if p in available] or [CPU]
    index = dev.index if dev is not None and dev.type == "cuda" and dev.index is not None else 0
    cache = str(Path(trt_cache_dir) if trt_cache_dir else default_trt_cache_dir())
    out: ProviderList = []
    for name in names:
        options: dict[str, str] = {}
        if name in GPU_PROVIDERS:
            options["device_id"] = str(index)
        if name == TENSORRT:
            options.update(
                trt_fp16_enable=str(precision == "fp16"),
                trt_engine_cache_enable="True",
                trt_engine_cache_path=cache,
                trt_timing_cache_enable="True",
                trt_timing_cache_path=cache,
            )
        out.append((name, options))
    return out


def _autocast_precision(device: torch.device) -> str:
    """'fp16' / 'bf16' inside a ``torch.autocast`` region of that dtype on ``device``, else 'fp32'."""
    if not torch.is_autocast_enabled(device.type):
        return "fp32"
    dtype = torch.get_autocast_dtype(device.type)
    return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, "fp32")


class OnnxSegmentationModel(nn.Module):
    """ONNX Runtime session as a module: ``forward(x [N,3,H,W]) -> logits [N,C,H,W]``.

    Attributes: ``meta`` (:class:`CheckpointMeta`), ``info`` (:class:`ExportInfo`),
    ``size_divisor`` (H and W must be multiples of it), ``input_size`` (``(H, W)`` the file is
    fixed to, or None when H/W are dynamic), ``providers`` (those the session uses, or will use on
    the module's device before the first call), ``session_device`` (None until the session exists).
    """

    def __init__(
        self,
        path: str | Path,
        providers: list[str] | None = None,
        threads: int | None = None,
        device: str | torch.device | None = None,
        precision: str | None = None,
        trt_cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.meta, self.info = read_onnx_meta(self.path)
        self._requested, self._threads = providers, threads
        self._precision, self._trt_cache_dir = precision, trt_cache_dir
        self._session: Any = None
        self.session_device: torch.device | None = None
        self.size_divisor = int(self.info.size_divisor or 1)
        self.input_size: tuple[int, int] | None = None if self.info.dynamic else tuple(self.info.input_size)
        self.num_classes = self.meta.num_classes
        # Zero-size anchor: .to(device) / .half() and device queries work as on a PyTorch model.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)
        if device is not None:
            self._session_for(torch.device("cpu" if device == "auto" else device))

    # ------------------------------------------------------------------ session
    def _plan(self, device: torch.device, precision: str) -> ProviderList:
        return choose_providers(self._requested, device, precision, trt_cache_dir=self._trt_cache_dir)

    def _session_for(self, device: torch.device) -> Any:
        """The session for ``device`` (created on first use, re-created if the device changes)."""
        if self._session is not None and self.session_device == device:
            return self._session
        import onnxruntime as ort

        precision = self._precision or _autocast_precision(device)
        plan = self._plan(device, precision)
        if any(name == TENSORRT for name, _ in plan):
            Path(dict(plan)[TENSORRT]["trt_engine_cache_path"]).mkdir(parents=True, exist_ok=True)
        options = ort.SessionOptions()
        if self._threads:
            options.intra_op_num_threads = int(self._threads)
        # Idle worker threads sleep instead of spin-waiting: on a CPU shared with the node's
        # executor, DDS and other processes, spinning steals the cores the next run needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(self.path),
                options,
                providers=[name for name, _ in plan],
                provider_options=[opts for _, opts in plan],
            )
        except Exception as exc:
            raise CheckpointError(f"ONNX Runtime cannot load {self.path}: {exc}") from None
        self.session_device = device
        self.input_name = self._session.get_inputs()[0].name
        self.output_name = self._session.get_outputs()[0].name
        LOG.info("ONNX model %s on %s (%s, %s)", self.path.name, device, self.providers, precision)
        return self._session

    @property
    def session(self) -> Any:
        """The ONNX Runtime session (created for the module's device if it does not exist yet)."""
        return self._session_for(self.session_device or self._anchor.device)

    @property
    def providers(self) -> list[str]:
        if self._session is not None:
            return list(self._session.get_providers())
        return [name for name, _ in self._plan(self._anchor.device, self._precision or "fp32")]

    # ------------------------------------------------------------------ forward
    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected input [N, 3, H, W], got {tuple(x.shape)}")
        h, w = int(x.shape[2]), int(x.shape[3])
        if self.input_size is not None and (h, w) != self.input_size:
            raise ValueError(
                f"{self.path.name} was exported for a fixed {self.input_size[0]}x{self.input_size[1]} (HxW) "
                f"input, got {h}x{w}: set the engine's input_size to it or export with --dynamic"
            )
        if h % self.size_divisor or w % self.size_divisor:
            raise ValueError(f"input {h}x{w} is not a multiple of {self.size_divisor}")

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        session = self._session_for(x.device)
        dtype = x.dtype
        x = x.float().contiguous(memory_format=torch.contiguous_format)
        if x.is_cuda and any(p in GPU_PROVIDERS for p in self.providers):
            out = self._run_cuda(session, x)
        else:
            out = torch.from_numpy(session.run([self.output_name], {self.input_name: x.cpu().numpy()})[0])
            out = out.to(x.device)
        return out.to(dtype)

    def _run_cuda(self, session: Any, x: torch.Tensor) -> torch.Tensor:
        """Zero-copy GPU run: bind the input tensor's memory, let ORT allocate the output on the GPU."""
        device_id = x.device.index or 0
        binding = session.io_binding()
        binding.bind_input(self.input_name, "cuda", device_id, np.float32, list(x.shape), x.data_ptr())
        binding.bind_output(self.output_name, "cuda", device_id)
        torch.cuda.current_stream(x.device).synchronize()
        session.run_with_iobinding(binding)
        value = binding.get_outputs()[0]
        try:  # DLPack keeps the result on the GPU
            return torch.from_dlpack(value.to_dlpack())
        except (AttributeError, RuntimeError):
            return torch.from_numpy(value.numpy()).to(x.device)

    def extra_repr(self) -> str:
        return f"path={self.path.name}, providers={self.providers}, input_size={self.input_size}"


def load_onnx_model(
    path: str | Path,
    providers: list[str] | None = None,
    threads: int | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
) -> tuple[nn.Module, CheckpointMeta]:
    """Load an exported ONNX file -> ``(OnnxSegmentationModel, CheckpointMeta)`` (like ``load_model``).

    Without ``device`` the ONNX Runtime session is created on the first call, for the input's device
    (and the autocast precision of that call); see :class:`OnnxSegmentationModel`.
    """
    model = OnnxSegmentationModel(
        path, providers=providers, threads=threads, device=device, precision=precision
    )
    return model.eval(), model.meta


__all__ = [
    "ExportInfo",
    "OnnxSegmentationModel",
    "choose_providers",
    "default_trt_cache_dir",
    "load_onnx_model",
]
