"""Export a checkpoint to ONNX and/or TorchScript, optionally checking parity with PyTorch.

    frrn_seg_export --checkpoint model.safetensors --onnx model.onnx --size 512x1024 --verify
    frrn_seg_export --checkpoint model.pt --onnx model.onnx --dynamic          # FRRN: any H/W
    frrn_seg_export --architecture csrnet_light --onnx random.onnx --size 256x512   # random weights
    frrn_seg_export --checkpoint model.pt --torchscript model.ts --size 512x1024 --verify
    frrn_seg_export --checkpoint model.pt --onnx m_int8.onnx --size 256x512 --int8 \
        --calibration DIR_OR_BAG          # int8 for CPUs, calibrated on your own images

``--size`` is HEIGHTxWIDTH (the network input; multiples of 16 for FRRN A, 32 for FRRN B and
CSRNet). ``--verify`` runs the exported file and PyTorch on random inputs and fails (exit 1)
unless max |logit diff| < 1e-3 + 1e-5 * max |PyTorch logit| (the relative term covers untrained
weights with large logits) and argmax agreement >= 99.9 %. The ONNX file carries the checkpoint
metadata under ``metadata_props['frrn_seg_ros']``. ``--int8`` writes a statically quantized model
(see :mod:`frrn_seg_ros.cli.int8`); ``--verify`` then reports its agreement with PyTorch on
the calibration inputs (informative: int8 is not held to the fp32 tolerance).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from frrn_seg_ros.core.checkpoint import CheckpointError, default_meta, load_model
from frrn_seg_ros.core.model_export import (
    DEFAULT_OPSET,
    EXPORTERS,
    MAX_ABS_TOL,
    MIN_ARGMAX_AGREEMENT,
    REL_TOL,
    Parity,
    export_onnx,
    export_torchscript,
    load_torchscript,
    verify_export,
)
from frrn_seg_ros.core.sizes import parse_hw

LOG = logging.getLogger("frrn_seg_export")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="frrn_seg_export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="frrn_seg_ros checkpoint (.pt/.pth/.safetensors)")
    src.add_argument("--architecture", help="export randomly initialised weights of this architecture")
    p.add_argument("--dataset", default="cityscapes", help="label set for --architecture (cityscapes|camvid)")
    p.add_argument("--onnx", type=Path, help="write ONNX here")
    p.add_argument("--torchscript", type=Path, help="write TorchScript (traced) here")
    p.add_argument("--size", type=parse_hw, default=(512, 1024), help="input HEIGHTxWIDTH (default 512x1024)")
    p.add_argument("--dynamic", action="store_true", help="ONNX with dynamic H/W (FRRN; not CSRNet)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    p.add_argument(
        "--exporter",
        choices=EXPORTERS,
        default="auto",
        help="torchscript (dynamo=False), dynamo (torch.export), or auto: try both in that order",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help=f"check parity with PyTorch: max |logit diff| < {MAX_ABS_TOL:g} + {REL_TOL:g} * max|logit| "
        f"and argmax agreement >= {100 * MIN_ARGMAX_AGREEMENT:.1f} %%, else exit 1",
    )
    p.add_argument("--verify-batch", type=int, default=1)
    p.add_argument("--int8", action="store_true", help="static int8 quantization (needs --calibration)")
    p.add_argument("--calibration", type=Path, help="image folder or rosbag2 folder for --int8")
    p.add_argument("--calibration-topic", default="/camera/image", help="image topic of a bag")
    p.add_argument("--calibration-frames", type=int, default=64, help="frames used (default 64)")
    return p


def _verify_inputs(size: tuple[int, int], dynamic: bool, divisor: int, batch: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randn(batch, 3, *size, generator=gen)]
    if dynamic:  # a second, different size exercises the dynamic axes
        h, w = size[0] // 2, size[1] // 2
        h, w = max(divisor, h - h % divisor), max(divisor, w - w % divisor)
        inputs.append(torch.randn(batch, 3, h, w, generator=gen))
    return inputs


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    if not args.onnx and not args.torchscript:
        print("frrn_seg_export: error: give --onnx PATH and/or --torchscript PATH", file=sys.stderr)
        return 2
    if args.int8 and (not args.onnx or args.calibration is None or args.dynamic):
        print("frrn_seg_export: error: --int8 needs --onnx PATH, --calibration DIR_OR_BAG and a fixed --size",
              file=sys.stderr)
        return 2
    try:
        if args.checkpoint is not None:
            model, meta = load_model(args.checkpoint)
        else:
            from frrn_seg_ros.core.labels import get_label_set
            from frrn_seg_ros.core.models import build_model

            meta = default_meta(args.architecture, get_label_set(args.dataset), weights="random")
            model = build_model(args.architecture, num_classes=meta.num_classes).eval()
    except (CheckpointError, ValueError) as exc:
        print(f"frrn_seg_export: error: {exc}", file=sys.stderr)
        return 2
    failures = []
    try:
        if args.onnx and args.int8:
            failures += _export_int8(model, meta, args)
        elif args.onnx:
            info = export_onnx(model, meta, args.onnx, args.size, args.dynamic, args.opset, args.exporter)
            print(
                f"ONNX: {args.onnx} ({info.exporter} exporter, opset {info.opset}, "
                f"{'dynamic H/W' if info.dynamic else 'fixed {}x{}'.format(*info.input_size)})"
            )
            if args.verify:
                from frrn_seg_ros.core.onnx_model import load_onnx_model

                onnx_model, _ = load_onnx_model(args.onnx, providers=["CPUExecutionProvider"])
                parity = verify_export(
                    model,
                    onnx_model,
                    _verify_inputs(args.size, args.dynamic, info.size_divisor, args.verify_batch),
                )
                failures += _report("ONNX Runtime vs PyTorch", parity)
        if args.torchscript:
            info = export_torchscript(model, meta, args.torchscript, args.size)
            print(f"TorchScript: {args.torchscript} (traced at {info.input_size[0]}x{info.input_size[1]})")
            if args.verify:
                ts_model, _, _ = load_torchscript(args.torchscript)
                parity = verify_export(
                    model, ts_model, _verify_inputs(args.size, False, 1, args.verify_batch)
                )
                failures += _report("TorchScript vs PyTorch", parity)
    except (RuntimeError, ValueError, CheckpointError, FileNotFoundError) as exc:
        print(f"frrn_seg_export: error: {exc}", file=sys.stderr)
        return 2
    return 1 if failures else 0


def _export_int8(model: torch.nn.Module, meta, args: argparse.Namespace) -> list[str]:
    """fp32 export to a scratch file, calibration inputs, quantization to ``args.onnx``."""
    import tempfile

    from frrn_seg_ros.core.onnx_model import load_onnx_model

    from .int8 import calibration_frames, network_inputs, quantize_int8

    frames = calibration_frames(args.calibration, args.calibration_topic, args.calibration_frames)
    with tempfile.TemporaryDirectory(prefix="frrn_export_") as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        info = export_onnx(model, meta, fp32, args.size, False, args.opset, args.exporter)
        inputs = network_inputs(frames, meta, args.size, info.size_divisor)
        quantize_int8(fp32, args.onnx, inputs)
    print(f"ONNX int8: {args.onnx} (fixed {args.size[0]}x{args.size[1]}, {len(inputs)} calibration frames)")
    if args.verify:
        int8_model, _ = load_onnx_model(args.onnx, providers=["CPUExecutionProvider"])
        parity = verify_export(model, int8_model, [torch.from_numpy(x) for x in inputs[:8]])
        print(f"int8 vs PyTorch on calibration frames: argmax agreement "
              f"{100 * parity.argmax_agreement:.2f} %, max |logit diff| {parity.max_abs_diff:.3g} "
              f"(max |logit| {parity.max_abs_logit:.3g})")
    return []


def _report(what: str, parity: Parity) -> list[str]:
    print(f"{what}: {parity}")
    return [] if parity.ok else [what]


if __name__ == "__main__":
    sys.exit(main())
