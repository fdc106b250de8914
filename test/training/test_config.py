"""Recipes load, carry a source for every value, and overrides are typed and checked."""

from __future__ import annotations

import re

import pytest
import yaml

from frrn_seg_training.config import DEFAULTS, RECIPE_DIR, ConfigError, load_recipe, parse_override

RECIPES = sorted(RECIPE_DIR.glob("*.yaml"))
EXPECTED = {
    "frrn_a_cityscapes",
    "frrn_b_cityscapes",
    *(f"csrnet_{v}_{d}" for v in ("light", "medium", "heavy") for d in ("cityscapes", "camvid")),
}


def test_all_paper_settings_present():
    assert {p.stem for p in RECIPES} == EXPECTED


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_value_has_a_source_comment(path):
    for line in path.read_text().splitlines():
        if re.match(r"^\s+\w+:\s*\S", line):  # a key with a value (not a section header)
            assert "# source:" in line, f"{path.name}: {line.strip()}"
    cfg = load_recipe(path)
    assert cfg["model"]["name"] in path.stem.replace("_cityscapes", "").replace("_camvid", "")


def test_paper_hyperparameters():
    paper = ["protocol=paper"]
    a, b = load_recipe("frrn_a_cityscapes", paper), load_recipe("frrn_b_cityscapes", paper)
    assert (
        a["data"]["downsample"],
        a["data"]["translate"],
        b["data"]["downsample"],
        b["data"]["translate"],
    ) == (4, 30, 2, 40)
    assert a["optim"]["betas"] == [0.9, 0.999] and a["train"]["batch_size"] == 3
    assert a["schedule"] == {"name": "step", "step_at": 35000, "gamma": 0.1, "min_lr": 0.0, "t_max": 0}
    h = load_recipe("csrnet_heavy_camvid", paper)
    assert h["optim"]["lr"] == 8e-4 and h["optim"]["betas"] == [0.9, 0.99]
    assert h["optim"]["backbone_lr_factor"] == 0.25 and h["schedule"]["min_lr"] == 1e-6
    assert load_recipe("csrnet_light_cityscapes", paper)["data"]["crop"] == [768, 768]


def test_overrides_are_typed_and_unknown_keys_named():
    cfg = load_recipe(
        "frrn_a_cityscapes",
        ["train.batch_size=5", "data.crop=[32, 64]", "model.sync_bn=true", "data.root=/x/y", "optim.lr=2e-4"],
    )
    assert cfg["train"]["batch_size"] == 5 and cfg["data"]["crop"] == [32, 64]
    assert cfg["model"]["sync_bn"] is True and cfg["data"]["root"] == "/x/y" and cfg["optim"]["lr"] == 2e-4
    with pytest.raises(ConfigError, match=r"train\.bach_size"):
        load_recipe("frrn_a_cityscapes", ["train.bach_size=5"])
    with pytest.raises(ConfigError, match="trian"):
        load_recipe("frrn_a_cityscapes", ["trian.batch_size=5"])
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        parse_override("train.batch_size")
    with pytest.raises(ConfigError, match="not found"):
        load_recipe("no_such_recipe")


def test_unknown_key_in_recipe_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"model": {"name": "frrn_a", "widht": 3}}))
    with pytest.raises(ConfigError, match=r"model\.widht"):
        load_recipe(bad)
    assert set(DEFAULTS) == {"model", "data", "loss", "optim", "schedule", "train", "eval"}
