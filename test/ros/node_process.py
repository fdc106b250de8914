"""A node started as users start it (``python -m frrn_seg_ros.ros.main``), its output read live.

``NodeProcess.wait_line`` waits on a condition, not a clock: tests find the moment to act (the
warm-up running, the first output, the stop message) and then act.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from frrn_seg_ros.ros.env import child_env

ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = ROOT / "config" / "segment.yaml"
BASE_PARAMS = ("model.architecture:=csrnet_light", "device:=cpu", "model.warmup_iters:=0")


def node_command(ns: str, *params: str, lifecycle: bool = False, extra: tuple[str, ...] = ()) -> list[str]:
    """The command line of a node in namespace ``ns``; later ``params`` win over BASE_PARAMS."""
    cmd = [sys.executable, "-m", "frrn_seg_ros.ros.main", *(["--lifecycle"] if lifecycle else [])]
    cmd += ["--ros-args", "-r", f"__ns:={ns}", "--params-file", str(PARAMS_FILE)]
    for p in (*BASE_PARAMS, *params):
        cmd += ["-p", p]
    return [*cmd, *extra]


class NodeProcess:
    """A child process whose stdout+stderr lines are collected by a reader thread."""

    def __init__(self, cmd: list[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            cmd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_line(self, needle: str, timeout: float = 120.0) -> str | None:
        """The first output line containing ``needle`` (waits for it), or None."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if needle in line), None)
                left = deadline - time.monotonic()
                ended = self.proc.poll() is not None and not self._reader.is_alive()
                if found is not None or left <= 0 or ended:
                    return found
                self._changed.wait(min(left, 0.5))

    def signal_and_wait(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> tuple[int, float]:
        """Send ``sig``; return (exit code, seconds from the signal to the exit). -999: still alive."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        return self.wait_exit(timeout), time.monotonic() - start

    def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -999
        self._reader.join(10.0)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10.0)


def assert_clean_exit(code: int, output: str) -> None:
    """Exit code 0 and no Python traceback / KeyboardInterrupt / abort in the output."""
    assert code == 0, output[-4000:]
    for bad in ("Traceback", "KeyboardInterrupt", "terminate called", "Aborted"):
        assert bad not in output, output[-4000:]


__all__ = ["NodeProcess", "assert_clean_exit", "node_command", "signal"]
