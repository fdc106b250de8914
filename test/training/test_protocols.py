"""Recipe protocols: ``paper`` vs ``released`` selection, their values and sources, and the
evaluation protocol that cannot select a checkpoint on the test set."""

from __future__ import annotations

import re

import pytest
import yaml

from frrn_seg_training.cli import main as cli_main
from frrn_seg_training.config import RECIPE_DIR, ConfigError, load_recipe, recipe_protocol

RECIPES = sorted(RECIPE_DIR.glob("*.yaml"))
CITYSCAPES_CSRNET = [f"csrnet_{v}_cityscapes" for v in ("light", "medium", "heavy")]
CAMVID = [f"csrnet_{v}_camvid" for v in ("light", "medium", "heavy")]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_has_both_protocols_with_sources(path):
    raw = yaml.safe_load(path.read_text())
    assert set(raw["protocols"]) == {"paper", "released"}
    # Both protocols set the same keys, so switching never leaves one protocol's value behind.
    keys = {name: {(s, k) for s, sec in p.items() for k in sec} for name, p in raw["protocols"].items()}
    assert keys["paper"] == keys["released"]
    text = path.read_text()
    assert "paper != code" in text  # every recipe says where the paper and the code disagree
    assert re.search(r"^protocol: (paper|released)\s+# source: \S", text, re.M)
    for line in text.splitlines():
        if re.match(r"^\s+\w+:\s*\S", line):
            assert "# source:" in line, f"{path.name}: {line.strip()}"
    a, b = (load_recipe(path, [f"protocol={p}"]) for p in ("paper", "released"))
    assert recipe_protocol(a) == "paper" and recipe_protocol(b) == "released"
    assert a["model"]["name"] == b["model"]["name"] and a["optim"] == b["optim"]


def test_released_is_the_default_where_it_made_the_published_weights():
    for name in ["frrn_a_cityscapes", "frrn_b_cityscapes", *CITYSCAPES_CSRNET]:
        assert recipe_protocol(load_recipe(name)) == "released", name
    for name in CAMVID:  # the authors' code has no CamVid path: the paper is what was published
        assert recipe_protocol(load_recipe(name)) == "paper", name


@pytest.mark.parametrize("name", CITYSCAPES_CSRNET)
def test_csrnet_released_values(name):
    r = load_recipe(name, ["protocol=released"])
    assert r["data"]["color_jitter"] == 0.5
    assert r["data"]["crop"] == [1024, 1024] and r["data"]["crop_mode"] == "cover"
    assert r["schedule"]["name"] == "cosine_epoch" and r["schedule"]["t_max"] == 250
    assert r["schedule"]["min_lr"] == 1e-6
    assert r["model"]["spfm_bn_momentum"] == 0.005 and r["model"]["init"] == "released"
    p = load_recipe(name, ["protocol=paper"])
    d, m = p["data"], p["model"]
    assert (d["crop"], d["crop_mode"], d["color_jitter"]) == ([768, 768], "pad", 0.0)
    assert (p["schedule"]["name"], m["spfm_bn_momentum"], m["init"]) == ("cosine", 0.1, "paper")


def test_frrn_released_values():
    a, b = load_recipe("frrn_a_cityscapes"), load_recipe("frrn_b_cityscapes")
    for r in (a, b):
        assert r["schedule"]["step_at"] == 45001  # 'update_counter > 45000' -> 1e-4
        assert r["data"]["downsample_method"] == "lanczos" and r["model"]["init"] == "released"
        assert r["train"]["iterations"] > r["schedule"]["step_at"]  # the drop happens
        assert r["train"]["ckpt_every"] == 500
    assert a["data"]["sampling"] == "class_balanced" and b["data"]["sampling"] == "uniform"
    p = load_recipe("frrn_a_cityscapes", ["protocol=paper"])
    paper_values = (p["schedule"]["step_at"], p["train"]["iterations"], p["data"]["sampling"])
    assert paper_values == (35000, 45000, "uniform")


def test_frrn_recipes_do_not_claim_the_paper_keeps_the_best_checkpoint():
    for name in ("frrn_a_cityscapes", "frrn_b_cityscapes"):
        text = (RECIPE_DIR / f"{name}.yaml").read_text()
        assert "paper keeps the best" not in text
        assert "the paper does not say" in text


def test_protocol_override_last_wins_and_unknown_is_named():
    cfg = load_recipe("frrn_a_cityscapes", ["protocol=released", "train.batch_size=2", "protocol=paper"])
    assert recipe_protocol(cfg) == "paper" and cfg["train"]["batch_size"] == 2
    # An explicit override beats the protocol's value.
    cfg = load_recipe("frrn_a_cityscapes", ["protocol=released", "schedule.step_at=7"])
    assert cfg["schedule"]["step_at"] == 7
    with pytest.raises(ConfigError, match=r"protocol='papr'.*known: \['paper', 'released'\]"):
        load_recipe("frrn_a_cityscapes", ["protocol=papr"])
    with pytest.raises(ConfigError, match="needs a recipe"):
        load_recipe(None, ["protocol=paper"])


def test_recipe_without_protocols_still_loads(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({"model": {"name": "frrn_a"}}))
    assert recipe_protocol(load_recipe(plain)) is None
    with pytest.raises(ConfigError, match=r"not a protocol of plain\.yaml"):
        load_recipe(plain, ["protocol=paper"])


def test_bad_key_inside_a_protocol_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"protocol": "paper", "protocols": {"paper": {"data": {"jiter": 1}}}}))
    with pytest.raises(ConfigError, match=r"protocols\.paper.*data\.jiter"):
        load_recipe(bad)


@pytest.mark.parametrize("name", CAMVID)
def test_camvid_never_selects_on_the_test_set(name):
    for protocol in ("paper", "released"):
        cfg = load_recipe(name, [f"protocol={protocol}"])
        assert cfg["data"]["val_split"] == "test" and cfg["train"]["keep_best"] is False
    with pytest.raises(ConfigError, match="select the checkpoint on the test set"):
        load_recipe(name, ["train.keep_best=true"])


def test_cli_bad_protocol_is_one_line_and_exit_2(tmp_path, capsys):
    code = cli_main(["--recipe", "frrn_a_cityscapes", "--set", "protocol=nope", "--output", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "protocol='nope'" in err


def test_resume_refuses_another_protocol():
    from frrn_seg_training.state import check_resume_compatible, run_signature

    released = run_signature(load_recipe("frrn_a_cityscapes", ["protocol=released"]))
    paper = run_signature(load_recipe("frrn_a_cityscapes", ["protocol=paper"]))
    assert released["protocol"] == "released"
    with pytest.raises(ValueError, match="protocol: checkpoint 'released', now 'paper'"):
        check_resume_compatible(released, paper, "latest.pt")
    check_resume_compatible(released, dict(released), "latest.pt")
    older = {k: v for k, v in released.items() if k != "protocol"}  # written before protocols existed
    check_resume_compatible(older, paper, "latest.pt")
