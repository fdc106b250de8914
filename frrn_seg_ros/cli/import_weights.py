"""Turn the papers' authors' released weights into one node checkpoint.

    frrn_seg_import --format csrnet-authors --input best.pth --output csrnet_heavy.safetensors
    frrn_seg_import --format frrn-lasagne --arch frrn_a --input frrn_a.npz --output frrn_a.safetensors
    frrn_seg_import --format frrn-lasagne --arch frrn_b --input frrn_b.npz --output frrn_b.safetensors

The checkpoint carries the architecture, the Cityscapes classes and colours, the input scaling,
the input subsampling the weights were trained at (FRRN A: 4, B: 2; the node, frrn_seg_replay_eval and
frrn_seg_training.evaluate use it when no input size is given) and the provenance: source format, file
name and sha256, the paper's reported mIoU. Any problem with the input file ends in one line
naming the key or array (expected and found shapes), exit code 2, and nothing written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from frrn_seg_ros.core.checkpoint import CheckpointError, save_checkpoint
from frrn_seg_ros.core.importers import FORMATS, WeightsImportError, import_weights

PROG = "frrn_seg_import"
OUTPUT_SUFFIXES = (".safetensors", ".pt", ".pth")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (``prog: error: ...``) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", required=True, choices=FORMATS, help="the authors' file format")
    p.add_argument(
        "--arch",
        choices=("frrn_a", "frrn_b", "csrnet_heavy"),
        help="architecture (required for frrn-lasagne; csrnet-authors is csrnet_heavy)",
    )
    p.add_argument("--input", required=True, type=Path, help="the authors' weights file")
    p.add_argument(
        "--output", required=True, type=Path, help="node checkpoint to write (.safetensors or .pt)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    if args.output.suffix not in OUTPUT_SUFFIXES:
        print(
            f"{PROG}: error: --output {args.output} must end in {' or '.join(OUTPUT_SUFFIXES)}",
            file=sys.stderr,
        )
        return 2
    if args.format == "frrn-lasagne" and args.arch is None:
        print(f"{PROG}: error: --format frrn-lasagne needs --arch frrn_a or --arch frrn_b", file=sys.stderr)
        return 2
    try:
        state, meta = import_weights(args.format, args.input, args.arch)
        save_checkpoint(args.output, state, meta)
    except (WeightsImportError, CheckpointError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    prov = meta.provenance
    print(
        f"{args.output}: {meta.architecture}, {meta.num_classes} Cityscapes classes, input "
        f"downsample {prov.get('input_downsample', 1)}, from {prov['source_file']} "
        f"(sha256 {prov['source_sha256'][:12]}...); paper mIoU {prov.get('paper_miou')}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
