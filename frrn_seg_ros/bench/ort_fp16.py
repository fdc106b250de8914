"""ONNX Runtime fp16 for the deployment matrix: whether a case can run, and preparing its graph.

TensorRT builds fp16 engines from the fp32 graph itself (``trt_fp16_enable``); otherwise the graph
is converted to fp16 with fp32 inputs and outputs for the CUDA provider. The CPU provider runs the
fp32 graph only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def ort_skip_reason(device: Any, precision: str) -> str | None:
    """Why an ONNX Runtime case at ``precision`` cannot run on ``device`` (None: it can)."""
    if precision == "fp32":
        return None
    if device.type != "cuda":
        return f"onnxruntime {precision} skipped on CPU: the CPU provider runs the fp32 graph only"
    if precision != "fp16":
        return f"onnxruntime {precision} skipped: ONNX Runtime cases run fp32 or fp16"
    import onnxruntime as ort

    if not {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(ort.get_available_providers()):
        return "onnxruntime fp16 skipped: no CUDA or TensorRT provider installed (onnxruntime-gpu)"
    return None


def ort_fp16_mode(path: Path) -> str:
    """Prepare an fp16 ONNX Runtime case: TensorRT builds fp16 engines from the fp32 graph itself
    (``trt_fp16_enable``); otherwise the graph at ``path`` is converted in place to fp16 with fp32
    inputs and outputs (onnxruntime.transformers.float16) for the CUDA provider. Returns which."""
    import onnx
    import onnxruntime as ort

    if "TensorrtExecutionProvider" in ort.get_available_providers():
        return "TensorRT trt_fp16_enable"
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    onnx.save(model, str(path))
    return "graph converted to fp16 (fp32 I/O), CUDA provider"
