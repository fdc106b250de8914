"""One size convention on every command line: HEIGHTxWIDTH."""

from __future__ import annotations

import argparse

import pytest

from frrn_seg_ros.core.sizes import parse_hw


def test_height_first() -> None:
    assert parse_hw("512x1024") == (512, 1024)
    assert parse_hw("64X96", multiple=32) == (64, 96)


@pytest.mark.parametrize(("text", "kwargs", "needle"), [
    ("512", {}, "HEIGHTxWIDTH"),
    ("axb", {}, "HEIGHTxWIDTH"),
    ("0x5", {}, "at least 1"),
    ("8x16", {"minimum": 16}, "at least 16"),
    ("64x100", {"multiple": 32}, "multiples of 32"),
])
def test_bad_sizes_are_clear_errors(text: str, kwargs: dict, needle: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=needle):
        parse_hw(text, **kwargs)
