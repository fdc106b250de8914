"""Atomic file and folder writes: a reader sees the old content or the new one, never half of it.

Both helpers write into a temporary sibling named ``.<name>.<8 random chars>.tmp`` (hidden, in
the same folder so the final rename stays on one file system), flush it to disk (fsync) and
rename it over the final name with ``os.replace`` only when the ``with`` block completes. On
any error (or Ctrl-C) the temporary is removed and the final name is left as it was. A process
killed mid-write leaves only the temporary behind: :data:`PARTIAL_NAME` recognises it. The
result has the permissions of a plain new file or folder (the umask applies).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

_RANDOM_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"  # as tempfile's names
#: ``.<name>.<8 random chars>.tmp``: the temporary of a write to ``<name>``.
PARTIAL_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")

__all__ = ["PARTIAL_NAME", "atomic_folder", "atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path`` for the caller to write (by path); when the
    block completes it is fsynced and renamed to ``path``, replacing any file there.

        with atomic_write(out) as tmp:
            torch.save(payload, tmp)
    """
    path = Path(path)
    tmp = _new_sibling(path, lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)))
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)  # still there only when the block or the rename failed


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; when the block completes its files are
    fsynced and it is renamed to ``path``, replacing any folder there."""
    path = Path(path)
    tmp = _new_sibling(path, lambda p: os.mkdir(p, 0o777))
    try:
        yield tmp
        for file in sorted(p for p in tmp.rglob("*") if p.is_file() and not p.is_symlink()):
            _fsync_file(file)
        shutil.rmtree(path, ignore_errors=True)  # os.replace needs the old folder gone (or empty)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _new_sibling(path: Path, create: Callable[[Path], None]) -> Path:
    """Create (with ``create``, which must fail if it exists) a new ``.<name>.<random>.tmp`` beside
    ``path``. Unlike ``tempfile``, it gets the permissions of a plain new file (umask applies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        random_part = "".join(secrets.choice(_RANDOM_CHARS) for _ in range(8))
        tmp = path.parent / f".{path.name}.{random_part}.tmp"
        try:
            create(tmp)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary name beside {path}")


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
