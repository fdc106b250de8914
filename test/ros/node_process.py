"""The tests' node child process: the project's own :mod:`frrn_seg_ros.ros.node_process`, with the
shipped parameters file and a small random-weight model as the base a test adds to.

``NodeProcess.wait_line`` waits on a condition, not a clock: tests find the moment to act (the
warm-up running, the first output, the stop message) and then act.
"""

from __future__ import annotations

import signal
from pathlib import Path

from frrn_seg_ros.ros import node_process
from frrn_seg_ros.ros.node_process import NodeProcess

ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = ROOT / "config" / "segment.yaml"
BASE_PARAMS = ("model.architecture:=csrnet_light", "device:=cpu", "model.warmup_iters:=0")


def node_command(ns: str, *params: str, lifecycle: bool = False, extra: tuple[str, ...] = ()) -> list[str]:
    """The command line of a node in namespace ``ns``; later ``params`` win over BASE_PARAMS."""
    return node_process.node_command(ns, (*BASE_PARAMS, *params), PARAMS_FILE, lifecycle, extra)


def assert_clean_exit(code: int, output: str) -> None:
    """Exit code 0 and no Python traceback / KeyboardInterrupt / abort in the output."""
    assert code == 0, output[-4000:]
    for bad in ("Traceback", "KeyboardInterrupt", "terminate called", "Aborted"):
        assert bad not in output, output[-4000:]


__all__ = ["NodeProcess", "assert_clean_exit", "node_command", "signal"]
