"""Image sizes on the command line: always HEIGHTxWIDTH (``512x1024``), like tensor shapes."""

from __future__ import annotations

import argparse


def parse_hw(text: str, minimum: int = 1, multiple: int = 1) -> tuple[int, int]:
    """``'512x1024'`` -> ``(512, 1024)``; usable as an argparse ``type``.

    Raises ``argparse.ArgumentTypeError`` (a ``ValueError`` is not shown verbatim by argparse)
    when the text is not ``HxW`` or a side is below ``minimum`` or not a multiple of ``multiple``.
    """
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must be HEIGHTxWIDTH (e.g. 512x1024), got {text!r}"
        ) from None
    if h < minimum or w < minimum:
        raise argparse.ArgumentTypeError(f"size {text!r}: height and width must be at least {minimum}")
    if h % multiple or w % multiple:
        raise argparse.ArgumentTypeError(f"size {text!r}: height and width must be multiples of {multiple}")
    return h, w
