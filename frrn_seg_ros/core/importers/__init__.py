"""The papers' authors' released weights -> node checkpoints.

Each source format has its own module with one function ``convert(path, architecture)`` that reads
the authors' file as data (never unpickling code), accounts for every key or array, and returns
``ImportedWeights``: our model's full state dict plus provenance facts. :func:`import_weights`
adds the Cityscapes classes, the input scaling and the file's name and sha256, and checks that the
weights load strictly into our model.

Formats:

- ``csrnet-authors``: Mayy1994/CSRNet's ``best.pth`` (a state dict of their
  ``SemsegModel(resnet18(...), 19)``), see :mod:`.csrnet_authors`.
- ``frrn-lasagne``: TobyPDE/FRRN's ``models/frrn_a.npz`` / ``frrn_b.npz`` (Lasagne's positional
  parameter arrays), see :mod:`.frrn_lasagne`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..checkpoint import CheckpointMeta, default_meta, file_sha256, load_state_dict_checked
from ..labels import CITYSCAPES
from .errors import ImportedWeights, WeightsImportError

FORMATS = ("csrnet-authors", "frrn-lasagne")

__all__ = ["FORMATS", "ImportedWeights", "WeightsImportError", "import_weights"]


def import_weights(
    fmt: str, path: str | os.PathLike, architecture: str | None = None
) -> tuple[dict, CheckpointMeta]:
    """Read the authors' file ``path`` in format ``fmt``; return ``(state_dict, meta)`` for our model.

    ``architecture``: required for ``frrn-lasagne`` (``frrn_a`` or ``frrn_b``); for
    ``csrnet-authors`` only ``csrnet_heavy`` (the released model) is accepted.
    Raises :class:`WeightsImportError` naming the key or array, expected and found shapes.
    """
    path = Path(path)
    if not path.is_file():
        what = "does not exist" if not path.exists() else "is not a regular file"
        raise WeightsImportError(f"{path} {what}")
    if fmt == "csrnet-authors":
        from .csrnet_authors import convert
    elif fmt == "frrn-lasagne":
        from .frrn_lasagne import convert
    else:
        raise WeightsImportError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    imported = convert(path, architecture)
    meta = default_meta(
        imported.architecture,
        CITYSCAPES,
        weights="imported",
        source_format=fmt,
        source_file=path.name,
        source_sha256=file_sha256(path),
        **imported.provenance,
    )
    _check_loads(imported, path)
    return imported.state_dict, meta


def _check_loads(imported: ImportedWeights, path: Path) -> None:
    """Our model must take the converted weights strictly (a converter bug ends here, not later)."""
    from ..checkpoint import CheckpointError
    from ..models import build_model

    model = build_model(imported.architecture, num_classes=CITYSCAPES.num_classes)
    try:
        load_state_dict_checked(model, imported.state_dict, source=str(path))
    except CheckpointError as exc:
        raise WeightsImportError(str(exc)) from None
