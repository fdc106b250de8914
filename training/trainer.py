"""The training loop: one recipe dict in, checkpoints and logs out.

Iteration = one optimizer step over ``train.accumulate`` micro-batches of ``train.batch_size``
images (per process). The batches come from :class:`~.train_data.TrainingData` in an order that
can restart anywhere, so ``latest.pt`` resumes exactly: same weights as an uninterrupted run.
Under torchrun the model is wrapped in DDP; only rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from frrn_seg_ros.core.models import architecture_info

from .builders import make_loss, make_model, scratch_backbone_warning
from .config import recipe_name
from .distributed import DistInfo, broadcast_buffers, init_distributed, local_rank_device
from .evaluate import autocast_context, evaluate
from .logger import RunLogger
from .optim import build_optimizer, build_scheduler
from .state import (
    capture_rng,
    check_resume_compatible,
    load_training_state,
    plain,
    remove_stale_partials,
    restore_rng,
    run_signature,
    save_training_state,
    seed_everything,
)
from .train_data import TrainingData

log = logging.getLogger(__name__)


class Trainer:
    """Builds everything from a recipe dict (see :mod:`frrn_seg_training.config`) and runs it."""

    def __init__(
        self,
        cfg: dict[str, Any],
        output_dir: str | Path,
        device: str | None = "auto",
        resume: str | Path | None = None,
        show_progress: bool = True,
    ) -> None:
        self.cfg, self.output_dir = cfg, Path(output_dir)
        probe = torch.device(
            "cuda"
            if (device in (None, "auto") and torch.cuda.is_available()) or str(device).startswith("cuda")
            else "cpu"
        )
        self.dist: DistInfo = init_distributed(probe)
        self.device = local_rank_device(device, self.dist)
        if self.dist.is_main:
            remove_stale_partials(self.output_dir)
        t = cfg["train"]
        self.amp, self.accumulate = str(t["amp"]), max(1, int(t["accumulate"]))
        self.iterations = int(t["iterations"])
        seed_everything(int(t["seed"]))
        if t.get("deterministic"):
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.info = architecture_info(cfg["model"]["name"])
        warning = scratch_backbone_warning(cfg)
        if warning and self.dist.is_main:
            log.warning(warning)
        model = make_model(cfg).to(self.device)
        if self.dist.enabled and cfg["model"]["sync_bn"]:
            if self.device.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            else:
                log.warning("model.sync_bn ignored: SyncBatchNorm needs CUDA (device %s)", self.device)
        self.model = model
        self.ddp = (
            nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
            if self.dist.enabled
            else model
        )
        self.data = TrainingData(cfg, self.dist, self.output_dir, pin_memory=self.device.type == "cuda")
        self.loss_fn = make_loss(cfg)
        self.optimizer = build_optimizer(self.ddp, cfg["optim"])
        self.scheduler = build_scheduler(
            self.optimizer,
            cfg["schedule"],
            float(cfg["optim"]["lr"]),
            self.iterations,
            iterations_per_epoch=self.data.batches_per_epoch // self.accumulate,
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == "fp16" and self.device.type == "cuda")
        self.iteration, self.best_miou, self.last_metrics = 0, -1.0, {}
        if resume is not None:
            self.load(resume)
        self.show_progress = show_progress and self.dist.is_main
        self.logger = RunLogger(self.output_dir, enabled=self.dist.is_main)

    # ---------------------------------------------------------------- data
    def batches(self):
        """Endless stream of training batches starting where ``self.iteration`` left off."""
        return self.data.batches(self.iteration * self.accumulate)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "best_miou": float(self.best_miou),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": capture_rng(),
            "config": plain(self.cfg),
            "metrics": plain(self.last_metrics),
            "run": run_signature(self.cfg, self.dist.world_size),
        }

    def save(self, name: str) -> Path | None:
        if not self.dist.is_main:
            return None
        return save_training_state(self.output_dir / name, self.state_dict())

    def load(self, path: str | Path) -> None:
        state = load_training_state(path, map_location=self.device)
        check_resume_compatible(state.get("run"), run_signature(self.cfg, self.dist.world_size), path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"])
        self.iteration, self.best_miou = int(state["iteration"]), float(state["best_miou"])
        self.last_metrics = state.get("metrics", {})
        log.info("resumed from %s at iteration %d", path, self.iteration)

    # ---------------------------------------------------------------- loop
    def train_step(self, batches) -> float:
        """One optimizer step over ``accumulate`` micro-batches; returns the mean loss."""
        self.ddp.train()
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for micro in range(self.accumulate):
            images, labels = next(batches)
            images, labels = (
                images.to(self.device, non_blocking=True),
                labels.to(self.device, non_blocking=True),
            )
            sync = (
                nullcontext()
                if (not self.dist.enabled or micro == self.accumulate - 1)
                else self.ddp.no_sync()
            )
            with sync:
                with autocast_context(self.device, self.amp):
                    logits = self.ddp(images)
                loss = self.loss_fn(logits.float(), labels) / self.accumulate
                self.scaler.scale(loss).backward()
            total += float(loss.detach())
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.iteration += 1
        return total

    def learning_rates(self) -> dict[str, float]:
        """``{'train/lr/<group name>': lr}`` for every optimizer parameter group (head, backbone)."""
        return {
            f"train/lr/{group.get('name', i)}": float(group["lr"])
            for i, group in enumerate(self.optimizer.param_groups)
        }

    def validate(self) -> dict:
        """mIoU over the whole validation set; under DDP each image is scored on exactly one rank
        (no padding) and the confusion matrices are summed across ranks inside :func:`evaluate`.
        Every rank first takes rank 0's BatchNorm statistics, so all score the same model."""
        if self.dist.enabled:
            broadcast_buffers(self.model)
        loader = self.data.val_loader(int(self.cfg["train"]["val_batch_size"]))
        result = evaluate(
            self.model,
            loader,
            self.data.label_set.num_classes,
            self.device,
            self.info.size_divisor,
            self.data.label_set.names,
            self.amp,
            self.cfg["eval"]["trimap_radii"],
            keep_samples=int(self.cfg["train"]["log_images"]) if self.dist.is_main else 0,
        )
        self.logger.evaluation(result, self.iteration, self.data.label_set, self.info.mean, self.info.std)
        result.pop("samples", None)
        return result

    def fit(self, max_iters: int | None = None) -> dict:
        """Train until ``train.iterations`` (or ``max_iters`` more steps); returns the last metrics."""
        t = self.cfg["train"]
        end = self.iterations if max_iters is None else min(self.iterations, self.iteration + int(max_iters))
        log_every, val_every, ckpt_every = int(t["log_every"]), int(t["val_every"]), int(t["ckpt_every"])
        batches = self.batches()
        bar = None
        if self.show_progress:
            from tqdm import tqdm

            bar = tqdm(total=end, initial=self.iteration, desc=recipe_name(self.cfg), dynamic_ncols=True)
        started, first = time.perf_counter(), self.iteration
        try:
            while self.iteration < end:
                loss = self.train_step(batches)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.optimizer.param_groups[0]['lr']:.2e}")
                if self.iteration % log_every == 0 or self.iteration == end:
                    self.logger.scalars({"train/loss": loss, **self.learning_rates()}, self.iteration)
                self.last_metrics["train_loss"] = loss
                is_last = self.iteration == end
                if self.iteration % val_every == 0 or (is_last and self.iteration == self.iterations):
                    self._validate_and_keep_best()
                if self.iteration % ckpt_every == 0 or is_last:
                    self.save("latest.pt")
        finally:
            if bar is not None:
                bar.close()
        elapsed = time.perf_counter() - started
        if self.iteration > first:
            self.last_metrics["seconds_per_iteration"] = elapsed / (self.iteration - first)
        self.logger.close()
        return self.last_metrics

    def _validate_and_keep_best(self) -> None:
        result = self.validate()
        self.last_metrics.update(miou=result["miou"], iou=result["iou"], iteration=self.iteration)
        if "trimap" in result:
            self.last_metrics["trimap"] = {str(k): v for k, v in result["trimap"].items()}
        log.info("iteration %d: val mIoU %.4f", self.iteration, result["miou"])
        if result["miou"] > self.best_miou and self.cfg["train"]["keep_best"]:
            self.best_miou = result["miou"]
            self.save("best.pt")
