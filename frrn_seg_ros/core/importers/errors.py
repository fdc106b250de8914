"""What every importer returns, and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


class WeightsImportError(ValueError):
    """The authors' file does not hold what its format promises; the message names the key or
    array index and the expected and found shapes."""


@dataclass
class ImportedWeights:
    """Our model's complete state dict converted from the authors' file, and facts about it.

    ``provenance``: plain data for the checkpoint metadata, e.g. ``paper_miou`` (Cityscapes val,
    as the paper reports it), ``input_downsample`` (the input subsampling the weights were trained
    at), ``source_layout`` (what the file held).
    """

    architecture: str
    state_dict: dict[str, torch.Tensor]
    provenance: dict[str, Any] = field(default_factory=dict)


def shape_error(where: str, expected: tuple[int, ...], found: tuple[int, ...]) -> WeightsImportError:
    """``where`` (a key or array index) has shape ``found`` instead of ``expected``."""
    return WeightsImportError(f"{where}: expected shape {tuple(expected)}, found {tuple(found)}")
