"""segment_node as a child process, started and stopped the one way the project does it.

:func:`node_command` builds ``python -m frrn_seg_ros.ros.main [--lifecycle] --ros-args ...`` from
a namespace, a parameters file and parameters (a dict, or ``KEY:=VALUE`` texts as typed).
:class:`NodeProcess` runs it with :func:`~frrn_seg_ros.ros.env.child_env` (DDS on this machine,
the Fast DDS large-image profile, the glibc malloc settings), collects its stdout + stderr lines
in a reader thread (optionally copied into a log file), and stops it with SIGINT, then SIGKILL if
it has not exited in time. ``wait_line`` waits on a condition, not a clock, so callers act on
what the node says (warm-up running, first output, stop message).

Imports nothing from ROS: the child does.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from .env import child_env

#: Output lines kept in memory (a soak run may last hours; its node logs little, but bounded anyway).
MAX_LINES = 20_000


def param_text(value: Any) -> str:
    """A parameter value as ``--ros-args -p`` text (YAML: lists in brackets, strings quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(param_text(v) for v in value) + "]"
    if isinstance(value, str):
        return f"'{value}'" if value and not value.startswith("'") else (value or "''")
    return str(value)


def parse_param_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``['key:=value', ...]`` (``--node-param`` texts) -> ``{key: value}``, each value typed as ROS
    types a ``-p`` value (YAML). ValueError names an item without ``:=`` or a key."""
    import yaml

    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition(":=")
        if not sep or not key.strip():
            raise ValueError(f"--node-param must look like KEY:=VALUE, got {item!r}")
        params[key.strip()] = yaml.safe_load(value)
    return params


def node_command(
    namespace: str | None = None,
    params: Mapping[str, Any] | Iterable[str] = (),
    params_file: str | Path | None = None,
    lifecycle: bool = False,
    extra: Iterable[str] = (),
) -> list[str]:
    """The command line of a node; ``params`` (a dict, or ``'key:=value'`` texts) win over the file."""
    cmd = [sys.executable, "-m", "frrn_seg_ros.ros.main", *(["--lifecycle"] if lifecycle else [])]
    cmd.append("--ros-args")
    if namespace:
        cmd += ["-r", f"__ns:={namespace}"]
    if params_file is not None:
        cmd += ["--params-file", str(params_file)]
    items = [f"{k}:={param_text(v)}" for k, v in params.items()] if isinstance(params, Mapping) else params
    for item in items:
        cmd += ["-p", item]
    return [*cmd, *extra]


class NodeProcess:
    """A running node child process; a context manager that stops it on exit."""

    def __init__(
        self, cmd: list[str], log_path: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.cmd = cmd
        self.log_path = log_path
        self.lines: collections.deque[str] = collections.deque(maxlen=MAX_LINES)
        self._changed = threading.Condition()
        self._log: TextIO | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(log_path, "w")  # noqa: SIM115 - closed when the reader ends
        env = env or child_env()
        out, err = subprocess.PIPE, subprocess.STDOUT
        self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if self._log is not None:
                self._log.write(line)
                self._log.flush()
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        if self._log is not None:
            self._log.close()
        with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ state
    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def output(self) -> str:
        """Everything the node printed so far (the last :data:`MAX_LINES` lines)."""
        with self._changed:
            return "\n".join(self.lines)

    def tail(self, lines: int = 15) -> str:
        with self._changed:
            return "\n".join(list(self.lines)[-lines:])

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

    # ------------------------------------------------------------------ stopping
    def wait_exit(self, timeout: float = 30.0) -> int:
        """The exit code once the node ended (killed after ``timeout`` s: then -999)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -999
        self._reader.join(10.0)
        return code

    def signal_and_wait(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> tuple[int, float]:
        """Send ``sig``; return (exit code, seconds from the signal to the exit). -999: killed."""
        start = time.monotonic()
        if self.alive():
            self.proc.send_signal(sig)
        return self.wait_exit(timeout), time.monotonic() - start

    def stop(self, timeout: float = 20.0) -> int:
        """SIGINT (Ctrl-C), then SIGKILL after ``timeout`` s; the exit code (-999: killed)."""
        return self.signal_and_wait(signal.SIGINT, timeout)[0]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10.0)
        self._reader.join(10.0)

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
