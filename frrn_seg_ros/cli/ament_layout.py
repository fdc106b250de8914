"""Make a pip install of frrn_seg_ros findable by ``ros2 launch`` (launch_ros).

launch_ros finds a package through the ament index of the prefixes in ``AMENT_PREFIX_PATH`` and
runs its executables from ``<prefix>/lib/<package>/``; pip puts console scripts in
``<prefix>/bin/`` and an editable install (``bash dev.sh setup``) installs no data files at all.
This links, into ``prefix`` (default: this Python's ``sys.prefix``, the venv), what is missing:

- ``share/ament_index/resource_index/packages/frrn_seg_ros`` (the index marker),
- ``share/frrn_seg_ros/{package.xml,launch,config}`` (links to the source checkout),
- ``lib/frrn_seg_ros/segment_node`` and ``segment_lifecycle_node`` (links to ``bin/``).

Existing files are left alone (a colcon or ``pip install .`` install already has the share
files), so it is safe to run again. Then ``export AMENT_PREFIX_PATH=<prefix>:$AMENT_PREFIX_PATH``.

    python -m frrn_seg_ros.cli.ament_layout [PREFIX]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PACKAGE = "frrn_seg_ros"
EXECUTABLES = ("segment_node", "segment_lifecycle_node")
SHARED = ("package.xml", "launch", "config")


def source_root() -> Path:
    """The checkout holding ``launch/``, ``config/`` and ``package.xml`` next to the package."""
    return Path(__file__).resolve().parents[2]


def _link(target: Path, link: Path, made: list[Path]) -> None:
    if link.exists() or link.is_symlink():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    made.append(link)


def install_layout(prefix: Path, source: Path | None = None) -> list[Path]:
    """Create the missing index marker, share links and ``lib/`` executables; return what was made.

    Raises FileNotFoundError when ``prefix/bin`` lacks an executable (the package is not
    installed there) or the share files cannot be found.
    """
    source = source or source_root()
    made: list[Path] = []
    for name in EXECUTABLES:
        script = prefix / "bin" / name
        if not script.is_file():
            raise FileNotFoundError(f"{script} not found: pip-install frrn_seg_ros into {prefix} first")
        _link(Path(os.path.relpath(script, prefix / "lib" / PACKAGE)), prefix / "lib" / PACKAGE / name, made)
    share = prefix / "share" / PACKAGE
    for name in SHARED:
        if not (share / name).exists():
            if not (source / name).exists():
                raise FileNotFoundError(f"{source / name} not found (not a source checkout?)")
            _link(source / name, share / name, made)
    marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("")
        made.append(marker)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", nargs="?", default=sys.prefix, help="install prefix (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        made = install_layout(Path(args.prefix).resolve())
    except FileNotFoundError as exc:
        print(f"[ament_layout] error: {exc}", file=sys.stderr)
        return 2
    for path in made:
        print(f"[ament_layout] {path}")
    print(f"[ament_layout] ok: export AMENT_PREFIX_PATH={Path(args.prefix).resolve()}:$AMENT_PREFIX_PATH")
    return 0


if __name__ == "__main__":
    sys.exit(main())
