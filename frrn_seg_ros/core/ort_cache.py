"""``model.backend: auto`` on a CPU: run a PyTorch checkpoint through ONNX Runtime, exported once.

:class:`AutoBackendModel` wraps the PyTorch network. For each input size it first sees (at most
:data:`MAX_SIZES` sizes; the engine's warm-up shows it the configured input size, else the first
frame's padded size) it gets an ONNX file from the cache, or exports one, checks its parity
against PyTorch on a random input (:func:`~frrn_seg_ros.core.model_export.verify_export`) and only then
moves it into the cache. Later inputs of that size run through ONNX Runtime (1.5x faster than
eager PyTorch on a CPU, and degrading less when the CPU is shared). Anything that goes wrong
(ONNX Runtime or onnx not installed, export or parity failure, a non-fp32 precision) leaves that
size on PyTorch with one log line; :attr:`AutoBackendModel.backend_info` says which backend runs
and why (the node publishes it in its diagnostics).

Cache: ``$FRRN_SEG_ORT_CACHE`` or ``~/.cache/frrn_seg_ros/onnx``; one file per checkpoint
SHA-256, input size, opset and ONNX Runtime version, so a new checkpoint, size or runtime never
reuses a stale file. Each export is made in a temporary folder in the cache folder and written,
self-contained (weights inside the file), to a temporary file there that is renamed into place
after the parity check (:func:`~frrn_seg_ros.core.files.atomic_write`): a killed export never
leaves a half-written model under the final name.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from .checkpoint import CheckpointMeta
from .files import atomic_write
from .model_export import DEFAULT_OPSET, export_onnx, save_self_contained, verify_export

LOG = logging.getLogger(__name__)
ORT_CACHE_ENV = "FRRN_SEG_ORT_CACHE"
MAX_SIZES = 2  # input sizes exported per engine; further sizes run on PyTorch


def default_cache_dir() -> Path:
    """``$FRRN_SEG_ORT_CACHE`` or ``~/.cache/frrn_seg_ros/onnx``."""
    return Path(os.environ.get(ORT_CACHE_ENV) or Path.home() / ".cache" / "frrn_seg_ros" / "onnx")


def cache_name(sha256: str, size: tuple[int, int], opset: int, ort_version: str) -> str:
    """The cache file name of one export: every input that changes the file is in it."""
    return f"{sha256[:20]}_{size[0]}x{size[1]}_opset{opset}_ort{ort_version}.onnx"


def cached_export(
    model: nn.Module,
    meta: CheckpointMeta,
    sha256: str,
    size: tuple[int, int],
    cache_dir: Path | None = None,
    opset: int = DEFAULT_OPSET,
    threads: int | None = None,
) -> nn.Module:
    """An :class:`OnnxSegmentationModel` for ``model`` at ``size`` (H, W), from the cache or newly
    exported and parity-checked. Raises ``RuntimeError`` / ``ImportError`` / ``ValueError`` saying
    why when that is not possible (the caller falls back to PyTorch)."""
    import onnxruntime as ort

    from .onnx_model import OnnxSegmentationModel

    folder = cache_dir or default_cache_dir()
    final = folder / cache_name(sha256, size, opset, ort.__version__)
    if final.is_file():
        LOG.info("ONNX Runtime: using the cached export %s", final)
        return OnnxSegmentationModel(final, threads=threads, device="cpu").eval()
    folder.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.TemporaryDirectory(prefix=f".{final.stem}.", suffix=".tmp", dir=folder)
    with scratch as work, atomic_write(final) as single:  # renamed into place only if parity holds
        exported_path = Path(work) / "model.onnx"
        export_onnx(model, meta, exported_path, input_size=size, opset=opset)
        save_self_contained(exported_path, single)
        exported = OnnxSegmentationModel(single, threads=threads, device="cpu").eval()
        probe = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
        parity = verify_export(model, exported, [probe])
        if not parity.ok:
            raise RuntimeError(f"parity check failed: {parity}")
    LOG.info("ONNX Runtime: exported %s at %dx%d to %s (%s)", meta.architecture, *size, final, parity)
    return OnnxSegmentationModel(final, threads=threads, device="cpu").eval()


class AutoBackendModel(nn.Module):
    """``forward(x [N,3,H,W]) -> logits [N,C,H,W]`` through ONNX Runtime where an export of that
    size passed its parity check, else through the wrapped PyTorch ``model``."""

    def __init__(
        self,
        model: nn.Module,
        meta: CheckpointMeta,
        sha256: str,
        cache_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.meta, self.sha256, self.cache_dir, self.threads = meta, sha256, cache_dir, threads
        self.size_divisor = int(getattr(model, "size_divisor", 1) or 1)
        self._sessions: dict[tuple[int, int], nn.Module | None] = {}
        self._reasons: dict[tuple[int, int], str] = {}

    def _for_size(self, size: tuple[int, int]) -> nn.Module | None:
        if size in self._sessions:
            return self._sessions[size]
        exported = None
        if len(self._sessions) >= MAX_SIZES:
            self._reasons[size] = f"more than {MAX_SIZES} input sizes: this one runs on PyTorch"
        else:
            try:
                exported = cached_export(self.model, self.meta, self.sha256, size, self.cache_dir,
                                         threads=self.threads)
            except Exception as exc:  # any failure means: stay on PyTorch, and say why
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                self._reasons[size] = reason
                LOG.warning("model.backend auto: ONNX Runtime unavailable at %dx%d, using PyTorch (%s)",
                            *size, reason)
        self._sessions[size] = exported
        return exported

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or torch.is_autocast_enabled("cpu"):
            return self.model(x)
        exported = self._for_size((int(x.shape[2]), int(x.shape[3])))
        return exported(x) if exported is not None else self.model(x)

    @property
    def backend_info(self) -> dict[str, str]:
        """``backend`` (onnxruntime / pytorch / mixed / pending) and, per size, the reason for PyTorch."""
        used = {"onnxruntime" if m is not None else "pytorch" for m in self._sessions.values()}
        info = {"backend": used.pop() if len(used) == 1 else ("mixed" if used else "pending")}
        for (h, w), reason in self._reasons.items():
            info[f"backend_fallback_{h}x{w}"] = reason
        for (h, w), exported in self._sessions.items():
            if exported is not None:
                info[f"onnx_{h}x{w}"] = str(exported.path)
        return info
