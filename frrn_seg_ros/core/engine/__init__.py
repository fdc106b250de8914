"""The inference engine: camera frames in, class ids / colour / overlay / confidence out.

Everything runs on one device (CUDA or CPU, same code): the raw frame is uploaded once as
integers, converted to RGB, resized, normalised and padded there, the model runs (optionally
under fp16/bf16 autocast), and only the uint8 results come back.
"""

from ..encodings import FrameError
from .config import ConfigError, EngineConfig, Frame, OutputRequest, SegmentationResult
from .convert import check_frame, to_rgb
from .device import resolve_device, resolve_precision
from .engine import SegmentationEngine, is_onnx_file
from .preprocess import Geometry, plan_geometry
from .timing import StageTimer

__all__ = [
    "ConfigError",
    "EngineConfig",
    "Frame",
    "FrameError",
    "Geometry",
    "OutputRequest",
    "SegmentationEngine",
    "SegmentationResult",
    "StageTimer",
    "check_frame",
    "is_onnx_file",
    "plan_geometry",
    "resolve_device",
    "resolve_precision",
    "to_rgb",
]
