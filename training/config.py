"""Recipes: YAML files in ``training/recipes/`` merged over :data:`DEFAULTS`, plus ``key.sub=value``
overrides from the command line (values typed by ``yaml.safe_load``). Any key that is not in
:data:`DEFAULTS` is an error naming it, so a typo never silently falls back to a default.

A recipe may hold several training protocols (``paper``: the paper's text; ``released``: the
authors' training code that produced the published weights)::

    protocol: released            # the default of this recipe
    model: {...}                  # values shared by every protocol
    protocols:
      paper: {data: {...}, ...}   # section -> key -> value, merged over the shared values
      released: {...}

``--set protocol=paper`` (override ``protocol=NAME``) selects another one. Merge order:
DEFAULTS <- shared recipe values <- the protocol's values <- ``section.key=value`` overrides.
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
        "init": "paper",  # weight init scheme: 'paper' (He normal, fan_in) or 'released' (authors' code)
        "spfm_bn_momentum": 0.1,  # CSRNet: BatchNorm momentum inside the SPFMs (released code 0.005)
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
        "crop_mode": "pad",  # image smaller than the crop: 'pad' (mean colour / void) or 'cover' (upscale)
        "color_jitter": 0.0,  # CSRNet released: brightness, contrast, saturation factors in [1-j, 1+j]
        "sampling": "uniform",  # 'uniform' shuffle or 'class_balanced' (per-image weights, with replacement)
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
    "schedule": {"name": "constant", "step_at": 0, "gamma": 0.1, "min_lr": 0.0, "t_max": 0},
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
        "keep_best": True,  # write best.pt at the best validation mIoU (refused when validating on test)
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


def _split_protocol_override(overrides: list[str]) -> tuple[str | None, list[str]]:
    """``['protocol=paper', 'a.b=1']`` -> ``('paper', ['a.b=1'])`` (the last ``protocol=`` wins)."""
    protocol, rest = None, []
    for text in overrides:
        key, _, value = text.partition("=")
        if key.strip() == "protocol":
            protocol = value.strip()
        else:
            rest.append(text)
    return protocol, rest


def _select_protocol(
    loaded: dict[str, Any], chosen: str | None, path: Path
) -> tuple[dict[str, Any], str | None]:
    """The recipe's shared sections merged with the chosen protocol's, and the protocol's name."""
    protocols = loaded.pop("protocols", None) or {}
    default = loaded.pop("protocol", None)
    name = chosen or default
    if not isinstance(protocols, dict):
        raise ConfigError(f"{path}: 'protocols' must map a protocol name to its sections")
    if name is None:
        return loaded, None
    if name not in protocols:
        known = sorted(protocols) or "none: this recipe has one protocol"
        raise ConfigError(f"protocol={name!r}: not a protocol of {path.name} (known: {known})")
    chosen_values = protocols[name] or {}
    _check_keys(chosen_values, f"{path} protocols.{name}")
    return merge(loaded, chosen_values), str(name)


def load_recipe(recipe: str | Path | None, overrides: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """DEFAULTS <- recipe file (shared, then its protocol) <- overrides.

    Raises :class:`ConfigError` naming any unknown key or protocol.
    """
    cfg = copy.deepcopy(DEFAULTS)
    protocol, overrides = _split_protocol_override(list(overrides or []))
    if recipe is not None:
        path = resolve_recipe_path(recipe)
        with open(path) as f:
            loaded = yaml.safe_load(f) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a recipe must be a mapping of sections")
        loaded, protocol = _select_protocol(loaded, protocol, path)
        _check_keys(loaded, str(path))
        cfg = merge(cfg, loaded)
        cfg["_recipe"] = {"path": str(path), "name": path.stem, "protocol": protocol}  # type: ignore[assignment]
    elif protocol is not None:
        raise ConfigError("protocol=... needs a recipe that defines protocols")
    for text in overrides:
        section, key, value = parse_override(text)
        _check_keys({section: {key: value}}, f"override {text!r}")
        cfg[section][key] = value
    check_protocol_sanity(cfg)
    return cfg


def check_protocol_sanity(cfg: dict[str, Any]) -> None:
    """Refuse a recipe whose evaluation could flatter it: keeping the best checkpoint by the mIoU of
    the split it is later reported on (CamVid's ``test``) selects the model on the test set."""
    if cfg["train"].get("keep_best") and str(cfg["data"]["val_split"]) == "test":
        raise ConfigError(
            "train.keep_best=true with data.val_split=test would select the checkpoint on the test set; "
            "set train.keep_best=false (report the last checkpoint) or validate on a held-out split"
        )


def recipe_name(cfg: dict[str, Any]) -> str:
    return cfg.get("_recipe", {}).get("name", "custom")


def recipe_protocol(cfg: dict[str, Any]) -> str | None:
    """The selected protocol (``paper`` / ``released``), or None for a recipe without protocols."""
    return cfg.get("_recipe", {}).get("protocol")
