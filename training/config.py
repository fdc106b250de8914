"""Recipes: YAML files in ``training/recipes/`` merged over :data:`DEFAULTS`, plus ``key.sub=value``
overrides from the command line (values typed by ``yaml.safe_load``). Any key that is not in
:data:`DEFAULTS` is an error naming it, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
RECIPE_DIR = Path(__file__).resolve().parent / "recipes"

#: Every key a recipe may set, with its default. Sections are one level deep.
DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {
        "name": "frrn_a",
        "num_classes": 19,
        "gradient_checkpointing": False,
        "pretrained_backbone": None,
        "sync_bn": False,
    },
    "data": {
        "dataset": "cityscapes",
        "root": None,
        "train_split": "train",
        "val_split": "val",
        "kind": "frrn",
        "downsample": 1,
        "downsample_method": "area",
        "translate": 0,
        "gamma": 0.0,
        "hflip": False,
        "scales": [1.0],
        "crop": None,
        "workers": 2,
        "limit_train": None,
        "limit_val": None,
    },
    "loss": {"name": "cross_entropy", "k": None, "fraction": 0.0625},
    "optim": {
        "name": "adam",
        "lr": 1e-3,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
        "backbone_lr_factor": 1.0,
        "backbone_wd_factor": 1.0,
    },
    "schedule": {"name": "constant", "step_at": 0, "gamma": 0.1, "min_lr": 0.0},
    "train": {
        "batch_size": 1,
        "iterations": 1000,
        "accumulate": 1,
        "amp": "none",
        "seed": 0,
        "val_every": 1000,
        "log_every": 20,
        "ckpt_every": 1000,
        "val_batch_size": 1,
        "log_images": 3,
        "deterministic": False,
    },
    "eval": {"trimap_radii": []},
}


class ConfigError(ValueError):
    """A recipe or an override names an unknown key or has a bad value."""


def _check_keys(cfg: dict[str, Any], source: str) -> None:
    for section, values in cfg.items():
        if section not in DEFAULTS:
            raise ConfigError(f"{source}: unknown section {section!r}; known: {sorted(DEFAULTS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r} must be a mapping")
        for key in values:
            if key not in DEFAULTS[section]:
                raise ConfigError(
                    f"{source}: unknown key {section}.{key}; known in {section}: {sorted(DEFAULTS[section])}"
                )


def merge(base: dict[str, dict[str, Any]], update: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Two-level merge: ``update``'s values replace ``base``'s (both are section -> key -> value)."""
    out = copy.deepcopy(base)
    for section, values in update.items():
        out.setdefault(section, {}).update(copy.deepcopy(values))
    return out


def resolve_recipe_path(recipe: str | Path) -> Path:
    """A path, or a bare name like ``frrn_a_cityscapes`` looked up in ``training/recipes``."""
    path = Path(recipe)
    if path.is_file():
        return path
    candidate = RECIPE_DIR / f"{path.stem}.yaml"
    if candidate.is_file():
        return candidate
    known = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))
    raise ConfigError(f"recipe {recipe} not found (neither a file nor one of {known})")


def parse_override(text: str) -> tuple[str, str, Any]:
    """``'train.batch_size=4'`` -> ``('train', 'batch_size', 4)`` (value typed by YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    dotted, raw = text.split("=", 1)
    parts = dotted.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"override {text!r}: key must be section.key (e.g. train.batch_size)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {exc}") from None
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        value = float(value)  # YAML 1.1 reads '2e-4' as a string; a number is meant
    return parts[0], parts[1], value


def load_recipe(recipe: str | Path | None, overrides: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """DEFAULTS <- recipe file <- overrides. Raises :class:`ConfigError` naming any unknown key."""
    cfg = copy.deepcopy(DEFAULTS)
    if recipe is not None:
        path = resolve_recipe_path(recipe)
        with open(path) as f:
            loaded = yaml.safe_load(f) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a recipe must be a mapping of sections")
        _check_keys(loaded, str(path))
        cfg = merge(cfg, loaded)
        cfg["_recipe"] = {"path": str(path), "name": path.stem}  # type: ignore[assignment]
    for text in overrides or []:
        section, key, value = parse_override(text)
        _check_keys({section: {key: value}}, f"override {text!r}")
        cfg[section][key] = value
    return cfg


def recipe_name(cfg: dict[str, Any]) -> str:
    return cfg.get("_recipe", {}).get("name", "custom")
