"""Export a segmentation model to ONNX or TorchScript, with its checkpoint metadata inside.

Both formats map a float tensor ``image`` ``[N, 3, H, W]`` (already normalised with the meta's
mean/std) to ``logits`` ``[N, C, H, W]``, exactly like the PyTorch model.

- ONNX: ``torch.onnx.export``; the :class:`CheckpointMeta` JSON is stored in ``metadata_props``
  under ``frrn_seg_ros`` and the export facts (input size, dynamic axes, size divisor, opset,
  exporter) under ``frrn_seg_ros.export``. Exporter choice (``exporter='auto'``, see
  :func:`exporter_order`): ``torchscript`` (``dynamo=False``, the classic tracer: handles dynamic
  H/W through ``dynamic_axes``) first, then ``dynamo`` (``torch.export`` + onnxscript); CSRNet
  goes straight to ``dynamo``: the tracer cannot export its adaptive pooling at any size.
  Dynamic H/W works for FRRN; CSRNet's SPFM pools to an aspect-dependent grid (adaptive average
  pooling), which ONNX cannot express for unknown sizes, so CSRNet exports at a fixed size.
- TorchScript: ``torch.jit.trace`` at one input size (shape arithmetic is frozen by tracing: run it
  at that size); the meta travels in ``_extra_files``.

:func:`compare_outputs` gives the parity figures the CLI and the tests check (max abs logit
difference, argmax agreement).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import FORMAT_NAME, CheckpointError, CheckpointMeta

LOG = logging.getLogger(__name__)
META_KEY = FORMAT_NAME
EXPORT_KEY = f"{FORMAT_NAME}.export"
TS_META_FILE = f"{FORMAT_NAME}.json"
TS_EXPORT_FILE = f"{FORMAT_NAME}.export.json"
DEFAULT_OPSET = 18
EXPORTERS = ("auto", "torchscript", "dynamo")
#: Parity thresholds used by ``--verify`` and the tests (fp32, CPU): |diff| < ATOL + RTOL * max|logit|.
#: The relative term matters for untrained FRRN weights, whose logits reach ~4e3 (diff ~2e-2 there).
MAX_ABS_TOL = 1e-3
REL_TOL = 1e-5
MIN_ARGMAX_AGREEMENT = 0.999


@dataclass
class ExportInfo:
    """Facts about an exported file, stored beside the meta. ``input_size`` is ``(H, W)``."""

    format: str
    input_size: tuple[int, int]
    dynamic: bool
    size_divisor: int
    exporter: str = ""
    opset: int | None = None
    torch_version: str = torch.__version__

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportInfo:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["input_size"] = tuple(known.get("input_size", (0, 0)))
        return cls(**known)


@dataclass
class Parity:
    """Export vs PyTorch on the same input: worst logit difference and argmax agreement."""

    max_abs_diff: float
    argmax_agreement: float
    max_abs_logit: float = 0.0
    min_agreement: float = MIN_ARGMAX_AGREEMENT

    @property
    def tolerance(self) -> float:
        """``MAX_ABS_TOL + REL_TOL * max|reference logit|``."""
        return MAX_ABS_TOL + REL_TOL * self.max_abs_logit

    @property
    def ok(self) -> bool:
        return self.max_abs_diff < self.tolerance and self.argmax_agreement >= self.min_agreement

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        return (
            f"max |logit diff| {self.max_abs_diff:.2e} (tol {self.tolerance:.1e} = "
            f"{MAX_ABS_TOL:g} + {REL_TOL:g} * max|logit| "
            f"{self.max_abs_logit:.3g}), argmax agreement {100 * self.argmax_agreement:.3f}% "
            f"(min {100 * self.min_agreement:.1f}%): {verdict}"
        )


def size_divisor_for(architecture: str) -> int:
    """The input-size multiple the architecture needs (from ``architecture_info``; 1 if unknown)."""
    try:
        from .models import architecture_info

        return int(getattr(architecture_info(architecture), "size_divisor", 1) or 1)
    except (ImportError, ValueError, KeyError):
        return 1


def _check_size(input_size: tuple[int, int], divisor: int) -> None:
    h, w = input_size
    if h % divisor or w % divisor:
        raise ValueError(f"input size {h}x{w} (HxW) must be a multiple of {divisor} for this model")


def export_onnx(
    model: nn.Module,
    meta: CheckpointMeta,
    path: str | Path,
    input_size: tuple[int, int] = (512, 1024),
    dynamic: bool = False,
    opset: int = DEFAULT_OPSET,
    exporter: str = "auto",
) -> ExportInfo:
    """Write ``model`` to ``path`` as ONNX (input ``image`` [N,3,H,W] -> output ``logits`` [N,C,H,W]).

    ``dynamic`` makes N, H and W free (H, W multiples of the size divisor); otherwise the file
    takes exactly ``[N, 3, *input_size]`` with N free. Raises ``RuntimeError`` naming every
    exporter's error if none succeeds.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    divisor = size_divisor_for(meta.architecture)
    _check_size(input_size, divisor)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().float().cpu()
    example = torch.zeros(2, 3, *input_size)  # batch 2: torch.export specialises size-1 dims
    order = exporter_order(meta.architecture, exporter)
    errors = []
    for name in order:
        start = time.perf_counter()
        try:
            _run_onnx_export(model, example, path, dynamic, opset, name)
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            LOG.warning("ONNX export with the %s exporter failed: %s", name, errors[-1])
            continue
        info = ExportInfo("onnx", tuple(input_size), dynamic, divisor, name, opset)
        _write_onnx_metadata(path, meta, info)
        LOG.info("exported %s with the %s exporter in %.1f s", path, name, time.perf_counter() - start)
        return info
    hint = " (CSRNet cannot export with dynamic H/W: use a fixed input size)" if dynamic else ""
    raise RuntimeError(f"ONNX export of {meta.architecture} failed{hint}: " + " | ".join(errors))


def exporter_order(architecture: str, exporter: str) -> list[str]:
    """The ONNX exporters to try for ``architecture``, in order (``exporter``: one of :data:`EXPORTERS`).

    ``auto`` tries TorchScript, then dynamo; for CSRNet only dynamo: the TorchScript exporter fails
    on its adaptive average pooling at every input size ("input size not accessible"), and on
    failing it prints the whole traced graph (hundreds of lines) to stdout, a log nobody wants.
    """
    if exporter != "auto":
        return [exporter]
    return ["dynamo"] if architecture.startswith("csrnet") else ["torchscript", "dynamo"]


def _run_onnx_export(
    model: nn.Module, example: torch.Tensor, path: Path, dynamic: bool, opset: int, exporter: str
) -> None:
    kwargs: dict[str, Any] = {"input_names": ["image"], "output_names": ["logits"], "opset_version": opset}
    if exporter == "torchscript":
        axes = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
        kwargs.update(dynamo=False, dynamic_axes={"image": axes, "logits": axes})
    else:
        kwargs.update(dynamo=True, verbose=False, opset_version=max(opset, 18))
        auto = torch.export.Dim.AUTO
        kwargs["dynamic_shapes"] = ({0: auto, 2: auto, 3: auto} if dynamic else {0: auto},)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = torch.onnx.export(model, (example,), str(path), **kwargs)
    if exporter == "dynamo" and result is not None and not path.is_file():
        result.save(str(path))


def _write_onnx_metadata(path: Path, meta: CheckpointMeta, info: ExportInfo) -> None:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    props = {p.key: p for p in proto.metadata_props}
    for key, value in ((META_KEY, json.dumps(meta.to_dict())), (EXPORT_KEY, json.dumps(asdict(info)))):
        entry = props.get(key) or proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def save_self_contained(source: str | Path, target: str | Path) -> None:
    """Re-save an ONNX file with its weights inside it (the dynamo exporter writes them to a
    ``.data`` file beside it, under a name that does not survive a rename or copy)."""
    import onnx

    onnx.save(onnx.load(str(source)), str(target), save_as_external_data=False)


def read_onnx_meta(path: str | Path) -> tuple[CheckpointMeta, ExportInfo]:
    """The :class:`CheckpointMeta` and :class:`ExportInfo` stored in an exported ONNX file."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ONNX file not found: {path}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable ONNX file: {exc}") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if META_KEY not in props:
        raise CheckpointError(f"{path} has no '{META_KEY}' metadata: export it with frrn_seg_export")
    meta = CheckpointMeta.from_dict(json.loads(props[META_KEY]))
    info = ExportInfo.from_dict(json.loads(props.get(EXPORT_KEY, "{}")) or {"format": "onnx"})
    if not info.size_divisor:
        info.size_divisor = size_divisor_for(meta.architecture)
    return meta, info


def export_torchscript(
    model: nn.Module, meta: CheckpointMeta, path: str | Path, input_size: tuple[int, int] = (512, 1024)
) -> ExportInfo:
    """Trace ``model`` at ``[1, 3, *input_size]`` and save it with the meta in ``_extra_files``."""
    divisor = size_divisor_for(meta.architecture)
    _check_size(input_size, divisor)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().float().cpu()
    info = ExportInfo("torchscript", tuple(input_size), False, divisor, "torch.jit.trace")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, torch.zeros(1, 3, *input_size), check_trace=False)
        extra = {TS_META_FILE: json.dumps(meta.to_dict()), TS_EXPORT_FILE: json.dumps(asdict(info))}
        torch.jit.save(traced, str(path), _extra_files=extra)
    return info


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, CheckpointMeta, ExportInfo]:
    """Load a TorchScript file written by :func:`export_torchscript` (CPU, eval mode)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"TorchScript file not found: {path}")
    extra = {TS_META_FILE: "", TS_EXPORT_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    if not extra[TS_META_FILE]:
        raise CheckpointError(f"{path} carries no {TS_META_FILE}: export it with frrn_seg_export")
    meta = CheckpointMeta.from_dict(json.loads(extra[TS_META_FILE]))
    info = ExportInfo.from_dict(json.loads(extra[TS_EXPORT_FILE] or '{"format": "torchscript"}'))
    return module.eval(), meta, info


def compare_outputs(reference: torch.Tensor, candidate: torch.Tensor) -> Parity:
    """Parity of two logit tensors ``[N, C, H, W]`` (max abs difference, argmax agreement)."""
    if reference.shape != candidate.shape:
        raise ValueError(f"logit shapes differ: {tuple(reference.shape)} vs {tuple(candidate.shape)}")
    ref, cand = reference.detach().float().cpu(), candidate.detach().float().cpu()
    diff = (ref - cand).abs().max().item()
    agree = (ref.argmax(1) == cand.argmax(1)).float().mean().item()
    return Parity(diff, agree, ref.abs().max().item())


@torch.no_grad()
def verify_export(model: nn.Module, exported: nn.Module, inputs: list[torch.Tensor]) -> Parity:
    """Worst-case :class:`Parity` of ``exported`` vs ``model`` over ``inputs`` ([N,3,H,W] each)."""
    model = model.eval().float().cpu()
    worst: Parity | None = None
    for x in inputs:
        p = compare_outputs(model(x), exported(x))
        if worst is None:
            worst = p
        else:
            worst = Parity(
                max(worst.max_abs_diff, p.max_abs_diff),
                min(worst.argmax_agreement, p.argmax_agreement),
                min(worst.max_abs_logit, p.max_abs_logit),
            )
    if worst is None:
        raise ValueError("verify_export needs at least one input")
    return worst
