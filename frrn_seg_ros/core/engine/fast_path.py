"""The fast inference path for fixed input sizes: torch.compile, CUDA graphs, with a safe fallback.

Eager PyTorch (the default) launches every operation of a call from Python. Two options, both
off by default and selected by :class:`EngineConfig` (node parameters ``model.compile`` and
``model.cuda_graphs``), make the same computation cheaper:

- ``compile``: the model goes through ``torch.compile`` (inductor, default mode, static shapes:
  one compilation per input shape, the first call of a shape is slow).
- ``cuda_graphs`` (CUDA only): the whole device part of an engine call (encoding conversion,
  preprocessing, the model under autocast, postprocessing: uploaded raw frames in, uint8 results
  out) is captured once per (encoding, frame batch shape, outputs) and replayed, so a frame costs
  one graph launch instead of hundreds of kernel launches. cuDNN autotuning
  (``torch.backends.cudnn.benchmark``) is switched on with it: the shapes are fixed. The stage
  timings then read: ``convert`` = the upload, ``inference`` = the whole replay, ``postprocess``
  = the download.

``channels_last`` and fp16/bf16 autocast are the engine's own settings and apply to every path.

Any failure falls back to eager, never to an error: a compile error drops compilation for good, a
capture error (an operation that synchronises with the host, say) runs that one shape eagerly.
Each fallback logs one warning; :attr:`FastPath.status` says which path runs and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

#: Graphs kept per engine (each holds its own static buffers); further shapes run eagerly.
MAX_GRAPHS = 8
#: The torch.compile backend (inductor: Triton kernels on CUDA, C++/OpenMP on a CPU).
COMPILE_BACKEND = "inductor"

Outputs = Any  # a tensor or a dict of tensors, as the captured function returns them


class _Graph:
    """One captured call: ``replay(x)`` copies ``x`` into the static input and replays.

    The returned outputs are the graph's static tensors: they are overwritten by the next replay,
    so copy them (the engine's download does) before replaying again.
    """

    def __init__(self, fn: Callable[[torch.Tensor], Outputs], example: torch.Tensor) -> None:
        self.static_input = example.clone()
        side = torch.cuda.Stream(example.device)
        side.wait_stream(torch.cuda.current_stream(example.device))
        with torch.cuda.stream(side):
            fn(self.static_input)  # lazy initialisation, cuDNN autotuning, compiling: may synchronise
            previous_mode = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode("error")  # a host round trip per call fails here, not in capture
            try:
                fn(self.static_input)
            finally:
                torch.cuda.set_sync_debug_mode(previous_mode)
        torch.cuda.current_stream(example.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_output = fn(self.static_input)

    def replay(self, x: torch.Tensor) -> Outputs:
        self.static_input.copy_(x, non_blocking=True)
        self.graph.replay()
        return self.static_output


class FastPath:
    """Runs the model (and, with CUDA graphs, whole device calls) on the fastest path that works.

    ``model``: the engine's module, already on ``device``; ``compile`` / ``cuda_graphs``: what the
    configuration asks for. :meth:`forward` is the model call, :meth:`run` a whole device call.
    """

    def __init__(self, model: nn.Module, device: torch.device, compile: bool, cuda_graphs: bool) -> None:
        self.eager_model = model
        self.model: Callable[[torch.Tensor], Any] = model
        self.requested = _names(compile=compile, cuda_graphs=cuda_graphs)
        self.compiled = False
        self.graphs_enabled = False
        self._graphs: dict[Hashable, _Graph] = {}
        self._eager_keys: dict[Hashable, str] = {}  # shapes whose capture failed, or over MAX_GRAPHS
        self._notes: list[str] = []
        if (compile or cuda_graphs) and _is_onnx(model):
            self._notes.append("ONNX Runtime model: compile and cuda_graphs apply to PyTorch models only")
            compile = cuda_graphs = False
        if compile:
            try:
                self.model = torch.compile(model, backend=COMPILE_BACKEND, dynamic=False)
                self.compiled = True
            except Exception as exc:  # torch.compile missing or refused: eager model
                self._notes.append(f"compile refused: {_short(exc)}")
        if cuda_graphs and device.type != "cuda":
            self._notes.append(f"cuda_graphs needs a CUDA device (device is {device})")
        elif cuda_graphs:
            self.graphs_enabled = True
            torch.backends.cudnn.benchmark = True
        logger.info("inference path: %s (%s)", self.path, self.reason)

    # ------------------------------------------------------------------ status
    @property
    def path(self) -> str:
        """``eager``, ``compile``, ``cuda_graphs`` or ``compile+cuda_graphs``."""
        return "+".join(_names(compile=self.compiled, cuda_graphs=self.graphs_enabled)) or "eager"

    @property
    def reason(self) -> str:
        """Why this path runs: what was requested, and every fallback since."""
        asked = ", ".join(self.requested) if self.requested else "nothing"
        notes = self._notes + [f"{key}: {why}" for key, why in self._eager_keys.items()]
        return f"requested {asked}" + ("; " + "; ".join(notes) if notes else "")

    @property
    def status(self) -> dict[str, Any]:
        """``path``, ``reason``, ``graphs`` (captured) and ``eager_shapes`` (run eagerly) for diagnostics."""
        return {"path": self.path, "reason": self.reason, "graphs": len(self._graphs),
                "eager_shapes": len(self._eager_keys)}

    # ------------------------------------------------------------------ running
    def forward(self, x: torch.Tensor) -> Any:
        """The model on ``x`` (compiled when that works; a compile error switches to eager for good)."""
        if self.compiled:
            try:
                return self.model(x)
            except Exception as exc:
                self._fall_back_from_compile(exc)
        return self.eager_model(x)

    def run(self, key: Hashable, x: torch.Tensor, fn: Callable[[torch.Tensor], Outputs]) -> Outputs:
        """``fn(x)``, replayed from the CUDA graph captured for ``key`` when graphs are on.

        ``key`` must identify everything that fixes the work of ``fn`` besides ``x``'s values (its
        shape and dtype are added here). ``fn`` must not read the host or synchronise with it.
        """
        if not self.graphs_enabled:
            return fn(x)
        key = (key, tuple(x.shape), x.dtype)
        graph = self._graphs.get(key)
        if graph is not None:
            return graph.replay(x)
        if key in self._eager_keys:
            return fn(x)
        if len(self._graphs) >= MAX_GRAPHS:
            self._eager_keys[key] = f"more than {MAX_GRAPHS} shapes, eager"
            logger.warning("cuda_graphs: %d graphs held, running %s eagerly", MAX_GRAPHS, key)
            return fn(x)
        try:
            graph = _Graph(fn, x)
        except Exception as exc:
            self._eager_keys[key] = f"capture failed ({_short(exc)}), eager"
            logger.warning("cuda_graphs: capture failed for %s, falling back to eager: %s", key, _short(exc))
            torch.cuda.synchronize(x.device)
            return fn(x)
        self._graphs[key] = graph
        logger.info("cuda_graphs: captured %s (%d held)", key, len(self._graphs))
        return graph.replay(x)

    def _fall_back_from_compile(self, exc: Exception) -> None:
        self.compiled = False
        self.model = self.eager_model
        self._graphs.clear()  # captured around the compiled model: capture again around eager
        self._notes.append(f"compile failed at run time ({_short(exc)}), eager model")
        logger.warning("torch.compile failed, falling back to the eager model: %s", _short(exc))


def _names(**flags: bool) -> tuple[str, ...]:
    return tuple(name for name, on in flags.items() if on)


def _is_onnx(model: nn.Module) -> bool:
    from ..onnx_model import OnnxSegmentationModel

    return isinstance(model, OnnxSegmentationModel)


def _short(exc: BaseException, limit: int = 160) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
