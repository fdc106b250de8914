"""Run an exported ONNX model through ONNX Runtime behind the same interface as a PyTorch model.

:class:`OnnxSegmentationModel` is an ``nn.Module`` whose ``forward`` takes ``[N, 3, H, W]`` float
(normalised) and returns logits ``[N, C, H, W]`` on the input's device, so the engine can use it
in place of the PyTorch network. Execution providers: TensorRT > CUDA > CPU among those installed,
or an explicit list. On CUDA with the CUDA provider, inputs and outputs stay on the GPU through
io_binding; otherwise they go through numpy on the CPU.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointError, CheckpointMeta
from .export import ExportInfo, read_onnx_meta

LOG = logging.getLogger(__name__)
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def choose_providers(requested: list[str] | None = None) -> list[str]:
    """The providers to use: ``requested`` (each must be installed) or the installed preferred ones."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise ValueError(f"ONNX Runtime providers {missing} are not installed; available: {available}")
        return list(requested)
    return [p for p in PREFERRED_PROVIDERS if p in available] or ["CPUExecutionProvider"]


class OnnxSegmentationModel(nn.Module):
    """ONNX Runtime session as a module: ``forward(x [N,3,H,W]) -> logits [N,C,H,W]``.

    Attributes: ``meta`` (:class:`CheckpointMeta`), ``info`` (:class:`ExportInfo`),
    ``size_divisor`` (H and W must be multiples of it), ``input_size`` (``(H, W)`` the file is
    fixed to, or None when H/W are dynamic), ``providers`` (those the session uses).
    """

    def __init__(
        self, path: str | Path, providers: list[str] | None = None, threads: int | None = None
    ) -> None:
        super().__init__()
        import onnxruntime as ort

        self.path = Path(path)
        self.meta, self.info = read_onnx_meta(self.path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=choose_providers(providers)
            )
        except Exception as exc:
            raise CheckpointError(f"ONNX Runtime cannot load {self.path}: {exc}") from None
        self.providers = self.session.get_providers()
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.size_divisor = int(self.info.size_divisor or 1)
        self.input_size: tuple[int, int] | None = None if self.info.dynamic else tuple(self.info.input_size)
        self.num_classes = self.meta.num_classes
        # Zero-size anchor: .to(device) / .half() and device queries work as on a PyTorch model.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)
        LOG.info("ONNX model %s on %s", self.path.name, self.providers)

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
        dtype = x.dtype
        x = x.float().contiguous(memory_format=torch.contiguous_format)
        if x.is_cuda and "CUDAExecutionProvider" in self.providers:
            out = self._run_cuda(x)
        else:
            out = torch.from_numpy(
                self.session.run([self.output_name], {self.input_name: x.cpu().numpy()})[0]
            )
            out = out.to(x.device)
        return out.to(dtype)

    def _run_cuda(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-copy GPU run: bind the input tensor's memory, let ORT allocate the output on the GPU."""
        import onnxruntime as ort

        device_id = x.device.index or 0
        binding = self.session.io_binding()
        binding.bind_input(self.input_name, "cuda", device_id, np.float32, list(x.shape), x.data_ptr())
        binding.bind_output(self.output_name, "cuda", device_id)
        torch.cuda.current_stream(x.device).synchronize()
        self.session.run_with_iobinding(binding)
        value: ort.OrtValue = binding.get_outputs()[0]
        try:  # DLPack keeps the result on the GPU
            return torch.from_dlpack(value.to_dlpack())
        except (AttributeError, RuntimeError):
            return torch.from_numpy(value.numpy()).to(x.device)

    def extra_repr(self) -> str:
        return f"path={self.path.name}, providers={self.providers}, input_size={self.input_size}"


def load_onnx_model(
    path: str | Path, providers: list[str] | None = None, threads: int | None = None
) -> tuple[nn.Module, CheckpointMeta]:
    """Load an exported ONNX file -> ``(OnnxSegmentationModel, CheckpointMeta)`` (like ``load_model``)."""
    model = OnnxSegmentationModel(path, providers=providers, threads=threads)
    return model.eval(), model.meta


__all__ = ["ExportInfo", "OnnxSegmentationModel", "choose_providers", "load_onnx_model"]
