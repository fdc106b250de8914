"""Optimisers and per-iteration learning-rate schedules of the two recipes.

- FRRN: Adam (0.9, 0.999, eps 1e-8), no weight decay, lr 1e-3 then 1e-4 after ``step_at`` iterations.
- CSRNet: Adam (0.9, 0.99), weight decay 1e-4, the ResNet-18 backbone in its own parameter group
  with lr and weight decay 4x smaller, cosine annealing to ``min_lr`` over the run (per iteration,
  ``cosine``), or as the authors' code does it (``cosine_epoch``): ``CosineAnnealingLR(T_max=250,
  eta_min=1e-6)`` stepped once at the START of every epoch, so epoch ``e`` (0-based) trains at
  ``eta_min + (base - eta_min) * (1 + cos(pi * min(e + 1, T_max) / T_max)) / 2`` and EVERY group
  (head and backbone) ends at ``eta_min`` in the last epoch.

Backbone cosine floor (a choice; the paper only says "cosine annealing ... to 1e-6"): one schedule
factor scales every group, so the 4x backbone/head lr ratio holds for the whole run, and ``min_lr``
(1e-6) is the floor of the head group while the backbone group ends at ``min_lr *
backbone_lr_factor`` (2.5e-7), not at 1e-6.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


def backbone_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters under ``model.backbone`` (empty when the model has none).

    Names are given as in ``model.named_parameters()`` so DDP-wrapped models work too.
    """
    inner = model.module if hasattr(model, "module") else model
    backbone = getattr(inner, "backbone", None)
    if not isinstance(backbone, nn.Module):
        return set()
    ids = {id(p) for p in backbone.parameters()}
    return {name for name, p in model.named_parameters() if id(p) in ids}


def build_optimizer(model: nn.Module, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    """Adam over ``model``'s trainable parameters, from the recipe's ``optim`` section.

    Keys: ``lr``, ``betas``, ``eps``, ``weight_decay``, ``backbone_lr_factor``,
    ``backbone_wd_factor``. With factors != 1 and a ``model.backbone``, two groups are made
    (group 0 = new layers, group 1 = backbone).
    """
    name = cfg.get("name", "adam")
    if name != "adam":
        raise ValueError(f"optim.name={name!r}: only 'adam' is used by the papers' recipes")
    lr, wd = float(cfg["lr"]), float(cfg.get("weight_decay", 0.0))
    betas = tuple(float(b) for b in cfg.get("betas", (0.9, 0.999)))
    eps = float(cfg.get("eps", 1e-8))
    lr_f, wd_f = float(cfg.get("backbone_lr_factor", 1.0)), float(cfg.get("backbone_wd_factor", 1.0))
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    backbone = backbone_parameter_names(model) if (lr_f != 1.0 or wd_f != 1.0) else set()
    groups = [
        {"params": [p for n, p in params if n not in backbone], "lr": lr, "weight_decay": wd, "name": "head"}
    ]
    if backbone:
        groups.append(
            {
                "params": [p for n, p in params if n in backbone],
                "lr": lr * lr_f,
                "weight_decay": wd * wd_f,
                "name": "backbone",
            }
        )
        log.info("optimizer: %d backbone tensors at lr x%g, wd x%g", len(groups[1]["params"]), lr_f, wd_f)
    return torch.optim.Adam(groups, lr=lr, betas=betas, eps=eps, weight_decay=wd)  # type: ignore[arg-type]


def step_factor(iteration: int, step_at: int, gamma: float = 0.1) -> float:
    """FRRN: 1 before ``step_at`` iterations, ``gamma`` from then on."""
    return 1.0 if iteration < step_at else gamma


def cosine_factor(iteration: int, total: int, min_ratio: float) -> float:
    """Cosine annealing from 1 to ``min_ratio`` over ``total`` iterations (then stays there)."""
    t = min(max(iteration, 0), total) / max(total, 1)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


def epoch_cosine_lr(epoch: int, base_lr: float, min_lr: float, t_max: int) -> float:
    """The lr of epoch ``epoch`` (0-based) under ``CosineAnnealingLR(T_max=t_max, eta_min=min_lr)``
    stepped once before each epoch (the CSRNet authors' train.py): the first epoch already runs at
    step 1, the epoch ``t_max - 1`` at ``min_lr``; later epochs stay at ``min_lr``."""
    t = min(max(epoch, 0) + 1, t_max) / max(t_max, 1)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: dict[str, Any],
    base_lr: float,
    total_iterations: int,
    iterations_per_epoch: int = 1,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration schedule from the recipe's ``schedule`` section (call ``.step()`` every
    optimizer step).

    - ``name: step``: keys ``step_at`` (iterations), ``gamma``.
    - ``name: cosine``: key ``min_lr`` (absolute, for the head group; the backbone group keeps its
      ratio and so ends at ``min_lr * backbone_lr_factor``), annealed over ``total_iterations``.
    - ``name: cosine_epoch``: keys ``t_max`` (epochs), ``min_lr`` (absolute floor of EVERY group);
      the lr changes only when an epoch of ``iterations_per_epoch`` iterations begins.
    - ``name: constant``.
    """
    name = cfg.get("name", "constant")
    if name == "cosine_epoch":
        t_max, min_lr = int(cfg.get("t_max", 0)), float(cfg.get("min_lr", 0.0))
        if t_max < 1:
            raise ValueError(f"schedule.t_max={cfg.get('t_max')!r}: cosine_epoch needs epochs >= 1")
        per_epoch = max(1, int(iterations_per_epoch))

        def group_fn(group_lr: float):
            return lambda it: epoch_cosine_lr(it // per_epoch, group_lr, min_lr, t_max) / group_lr

        fns = [group_fn(float(g["lr"])) for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.LambdaLR(optimizer, fns)
    if name == "step":
        step_at, gamma = int(cfg["step_at"]), float(cfg.get("gamma", 0.1))
        fn = lambda it: step_factor(it, step_at, gamma)  # noqa: E731
    elif name == "cosine":
        ratio = float(cfg.get("min_lr", 0.0)) / base_lr
        fn = lambda it: cosine_factor(it, total_iterations, ratio)  # noqa: E731
    elif name == "constant":
        fn = lambda it: 1.0  # noqa: E731
    else:
        raise ValueError(
            f"schedule.name={name!r}: expected 'step', 'cosine', 'cosine_epoch' or 'constant'"
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
