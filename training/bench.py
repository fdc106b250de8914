"""Training throughput per recipe: images/s, s/iteration and peak memory on this device.

Each configuration runs in a fresh subprocess (so peak RSS on CPU is its own), with random
tensors at the recipe's training size times ``--scale`` (data loading excluded), the recipe's
model, loss and optimizer, and FRRN with and without gradient checkpointing. Results go to
``benchmarks/results/training_<device>.json`` and ``.md`` with the device name.

    python -m frrn_seg_training.bench --scale 0.25 --batch 1 --iters 3      # CPU, reduced size
    python -m frrn_seg_training.bench --device cuda --amp bf16               # GPU, paper sizes
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from .config import RECIPE_DIR, load_recipe


def train_size(cfg: dict) -> tuple[int, int]:
    """Training input ``(H, W)`` of a recipe at paper settings (FRRN: subsampled 1024x2048; CSRNet: crop)."""
    if cfg["data"]["kind"] == "frrn":
        f = int(cfg["data"]["downsample"])
        return 1024 // f, 2048 // f
    crop = cfg["data"]["crop"]
    return int(crop[0]), int(crop[1])


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def run_one(
    recipe: str,
    scale: float,
    batch: int | None,
    iters: int,
    warmup: int,
    device: str,
    amp: str,
    checkpointing: bool,
) -> dict:
    """Time ``iters`` training steps of ``recipe`` in this process; returns one result row."""
    from .builders import make_loss, make_model
    from .evaluate import autocast_context
    from .optim import build_optimizer

    cfg = load_recipe(recipe, [f"model.gradient_checkpointing={str(checkpointing).lower()}"])
    dev = torch.device(device)
    div = 32
    h, w = train_size(cfg)
    h, w = max(div, round(h * scale / div) * div), max(div, round(w * scale / div) * div)
    n = int(batch or cfg["train"]["batch_size"])
    if cfg["model"]["name"].startswith("csrnet"):
        n = max(n, 2)  # CSRNet's SRM batch-normalises pooled 1x1 features: training needs > 1 image
    torch.manual_seed(0)
    model = make_model(cfg).to(dev).train()
    loss_fn = make_loss(cfg)
    opt = build_optimizer(model, cfg["optim"])
    x = torch.randn(n, 3, h, w, device=dev)
    y = torch.randint(0, int(cfg["model"]["num_classes"]), (n, h, w), device=dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for i in range(warmup + iters):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast_context(dev, amp):
            logits = model(x)
        loss_fn(logits.float(), y).backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    sec = sorted(times)[len(times) // 2]
    peak = (
        torch.cuda.max_memory_allocated(dev)
        if dev.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    total_iters = int(cfg["train"]["iterations"])
    return {
        "recipe": recipe,
        "model": cfg["model"]["name"],
        "gradient_checkpointing": checkpointing,
        "input": [h, w],
        "batch": n,
        "amp": amp,
        "sec_per_iter_median": sec,
        "images_per_s": n / sec,
        "peak_memory_mib": peak / 2**20,
        "peak_memory_kind": "cuda_allocated" if dev.type == "cuda" else "rss",
        "paper_input": list(train_size(cfg)),
        "paper_batch": int(cfg["train"]["batch_size"]),
        "paper_iterations": total_iters,
        "device": device_name(dev),
    }


#: Papers' inference time per image (seconds, input H, W, GPU) used for the GPU-hour projection.
PAPER_INFERENCE = {
    "frrn_a_cityscapes": (0.166, 256, 512, "Titan X (FRRN paper Sec. 5.4)"),
    "frrn_b_cityscapes": (0.469, 512, 1024, "Titan X (FRRN paper Sec. 5.4)"),
    "csrnet_light_cityscapes": (0.0179, 1024, 2048, "GTX 1080 Ti (CSRNet Table 1)"),
    "csrnet_medium_cityscapes": (0.0190, 1024, 2048, "GTX 1080 Ti (CSRNet Table 1)"),
    "csrnet_heavy_cityscapes": (0.0275, 1024, 2048, "GTX 1080 Ti (CSRNet Table 1)"),
    "csrnet_light_camvid": (0.0128, 720, 960, "GTX 1080 Ti (CSRNet Table 2)"),
    "csrnet_medium_camvid": (0.0136, 720, 960, "GTX 1080 Ti (CSRNet Table 2)"),
    "csrnet_heavy_camvid": (0.0216, 720, 960, "GTX 1080 Ti (CSRNet Table 2)"),
}
TRAIN_TO_INFERENCE = 3.0  # forward + backward + update ~ 3 forwards (rule of thumb)


def projections(row: dict) -> dict:
    """Whole-recipe cost: CPU-hours scaled from this measurement (pixels x batch), and GPU-hours
    from the paper's inference time x 3."""
    ph, pw = row["paper_input"]
    bh, bw = row["input"]
    per_iter_full = row["sec_per_iter_median"] * (ph * pw) / (bh * bw) * row["paper_batch"] / row["batch"]
    out = {"cpu_hours_projected": per_iter_full * row["paper_iterations"] / 3600}
    if row["recipe"] in PAPER_INFERENCE:
        sec, ih, iw, gpu = PAPER_INFERENCE[row["recipe"]]
        per_img = TRAIN_TO_INFERENCE * sec * (ph * pw) / (ih * iw)
        out["gpu_hours_from_paper"] = per_img * row["paper_batch"] * row["paper_iterations"] / 3600
        out["paper_gpu"] = gpu
    return out


def write_markdown(rows: list[dict], path: Path, note: str) -> None:
    lines = [
        f"# Training throughput ({rows[0]['device'] if rows else '?'})",
        "",
        note,
        "",
        "| recipe | ckpt | input | batch | amp | s/iter | img/s | peak MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['recipe']} | {'yes' if r['gradient_checkpointing'] else 'no'} | "
            f"{r['input'][0]}x{r['input'][1]} | {r['batch']} | {r['amp']} | "
            f"{r['sec_per_iter_median']:.3f} | {r['images_per_s']:.2f} | {r['peak_memory_mib']:.0f} |"
        )
    lines += [
        "",
        "Projected cost of the whole recipe (paper size, batch and iterations; no data loading "
        "or validation). CPU-hours: this measurement scaled by pixels and batch (linear, rough). "
        "GPU-hours: NOT measured, the paper's inference time x 3 for forward+backward.",
        "",
        "| recipe | iterations | CPU-hours (this machine) | GPU-hours (paper timing) | paper GPU |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if r["gradient_checkpointing"]:
            continue
        pr = projections(r)
        gpu_h = f"{pr['gpu_hours_from_paper']:.1f}" if "gpu_hours_from_paper" in pr else "-"
        cpu_h, gpu = pr["cpu_hours_projected"], pr.get("paper_gpu", "-")
        lines.append(f"| {r['recipe']} | {r['paper_iterations']} | {cpu_h:.0f} | {gpu_h} | {gpu} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m frrn_seg_training.bench", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--recipes", default="all", help="comma-separated recipe names, or all")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the recipe's training H and W")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the recipe's)")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--amp", default="none")
    p.add_argument("--out", default="benchmarks/results", help="folder for training_<tag>.json/.md")
    p.add_argument("--tag", default=None, help="file tag (default: cpu or gpu)")
    p.add_argument("--rewrite", default=None, help="re-derive .md (and projections) from a results .json")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    p.add_argument("--ckpt", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rewrite:
        src = Path(args.rewrite)
        data = json.loads(src.read_text())
        for row in data["results"]:
            row.update(projections(row))
        src.write_text(json.dumps(data, indent=2) + "\n")
        write_markdown(data["results"], src.with_suffix(".md"), data["note"])
        return 0
    if args.one:
        row = run_one(
            args.one, args.scale, args.batch, args.iters, args.warmup, args.device, args.amp, args.ckpt
        )
        print("RESULT " + json.dumps(row))
        return 0
    recipes = (
        sorted(q.stem for q in RECIPE_DIR.glob("*.yaml"))
        if args.recipes == "all"
        else args.recipes.split(",")
    )
    rows = []
    for recipe in recipes:
        for ckpt in [False, True] if recipe.startswith("frrn") else [False]:
            cmd = (
                [
                    sys.executable,
                    "-m",
                    "frrn_seg_training.bench",
                    "--one",
                    recipe,
                    "--scale",
                    str(args.scale),
                    "--iters",
                    str(args.iters),
                    "--warmup",
                    str(args.warmup),
                    "--device",
                    args.device,
                    "--amp",
                    args.amp,
                ]
                + (["--batch", str(args.batch)] if args.batch else [])
                + (["--ckpt"] if ckpt else [])
            )
            proc = subprocess.run(cmd, capture_output=True, text=True)
            found = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not found:
                print(f"{recipe} (ckpt={ckpt}) failed:\n{proc.stderr[-600:]}", file=sys.stderr)
                continue
            row = json.loads(found[0][len("RESULT ") :])
            row.update(projections(row))
            rows.append(row)
            print(
                f"{recipe:28s} ckpt={ckpt!s:5s} {row['input']} b{row['batch']}: "
                f"{row['sec_per_iter_median']:.3f} s/iter, {row['images_per_s']:.2f} img/s, "
                f"peak {row['peak_memory_mib']:.0f} MiB",
                flush=True,
            )
    tag = args.tag or ("gpu" if args.device.startswith("cuda") else "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    note = (
        f"Measured by `python -m frrn_seg_training.bench {' '.join(argv or sys.argv[1:])}`: random tensors "
        f"(no data loading), scale {args.scale} of each recipe's training size, median of {args.iters} "
        f"steps after {args.warmup} warm-up, torch {torch.__version__}."
    )
    (out / f"training_{tag}.json").write_text(json.dumps({"note": note, "results": rows}, indent=2) + "\n")
    write_markdown(rows, out / f"training_{tag}.md", note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
