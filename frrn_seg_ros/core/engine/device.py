"""Device and precision resolution (the config strings -> a device and an autocast dtype), and
torch's CPU thread count around host work."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from .config import ConfigError

_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda[:N]`` must exist on this machine
    (:class:`ConfigError` for ``device`` otherwise). The process-wide CUDA device is left alone."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:  # e.g. an index too large for torch
        raise ConfigError("device", f"EngineConfig.device={name!r}: {exc}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            message = f"EngineConfig.device={name!r}: CUDA is not available on this machine"
            raise ConfigError("device", message)
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ConfigError(
                "device",
                f"EngineConfig.device={name!r}: only {torch.cuda.device_count()} CUDA device(s) present",
            )
        device = torch.device("cuda", index)
    return device


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None = plain fp32).

    fp16 needs CUDA (CPU fp16 kernels are slow or missing): :class:`ConfigError` on CPU; bf16
    runs on CPU and on CUDA devices that support it.
    """
    if precision not in _DTYPES:
        message = f"EngineConfig.precision={precision!r}: expected one of {tuple(_DTYPES)}"
        raise ConfigError("precision", message)
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(
            "precision",
            "EngineConfig.precision='fp16' needs a CUDA device; on CPU use 'bf16' or 'fp32' "
            f"(device is {device})",
        )
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise ConfigError("precision", f"EngineConfig.precision='bf16' is not supported by {name}")
    return _DTYPES[precision]


def cuda_memory_stats(device: torch.device) -> dict[str, float]:
    """GPU memory in MB (allocated, peak allocated, reserved) on CUDA; ``{}`` on CPU."""
    if device.type != "cuda":
        return {}
    mb = 1024.0 * 1024.0
    return {
        "allocated_mb": torch.cuda.memory_allocated(device) / mb,
        "peak_allocated_mb": torch.cuda.max_memory_allocated(device) / mb,
        "reserved_mb": torch.cuda.memory_reserved(device) / mb,
    }


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads, then restore the previous count.

    The CPU path's pre/postprocessing uses one thread: its many short torch operations each end
    in a barrier, and with a core busy elsewhere (another process, the node's executor) every
    barrier waits for a time slice. Measured at 2 MP, two cores, a test run beside it: 15-25 ms
    with one thread, 300-470 ms with two; idle, one thread costs 1.5 to 2.5 ms more.
    """
    previous = torch.get_num_threads()
    if previous == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
