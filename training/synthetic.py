"""Synthetic street scenes in the Cityscapes folder layout, for demos and tests.

Writes ``leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` and
``gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png`` with official Cityscapes
labelIds. Classes (road, sidewalk, building, sky, vegetation, car, pole, person, plus a void
'ego vehicle' strip) are drawn shapes whose colour, texture and position are distinctive, with
per-image lighting (brightness and gamma) variation. Everything is a function of the seed.

    frrn_seg_synth OUT_DIR --train 8 --val 2 --size 128x256 --seed 0
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from frrn_seg_ros.core.sizes import parse_hw

log = logging.getLogger(__name__)

#: Official Cityscapes labelIds of the drawn classes.
ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, SKY, PERSON, CAR, EGO = 7, 8, 11, 17, 21, 23, 24, 26, 1
SYNTH_LABEL_IDS = (ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, SKY, PERSON, CAR)
CITIES = {"train": "synthville", "val": "synthtown", "test": "synthcity"}
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}

# Base colour and texture strength (std of per-pixel noise, 0..255) per class.
_STYLE = {
    SKY: ((120, 170, 225), 3.0),
    BUILDING: ((120, 105, 95), 10.0),
    VEGETATION: ((60, 120, 40), 30.0),
    ROAD: ((80, 80, 85), 8.0),
    SIDEWALK: ((190, 160, 175), 6.0),
    POLE: ((170, 170, 170), 4.0),
    PERSON: ((200, 40, 60), 12.0),
    CAR: ((30, 40, 150), 8.0),
    EGO: ((20, 20, 20), 2.0),
}


def _jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)  # type: ignore


def render_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw one scene. Returns ``(H, W, 3)`` uint8 RGB and ``(H, W)`` uint8 Cityscapes labelIds."""
    lab = Image.new("L", (width, height), SKY)
    rgb = Image.new("RGB", (width, height), _STYLE[SKY][0])
    dl, dr = ImageDraw.Draw(lab), ImageDraw.Draw(rgb)
    h, w = height, width

    def shape(kind: str, xy, label_id: int, color=None) -> None:
        color = color or _jitter(rng, _STYLE[label_id][0], 12)
        getattr(dl, kind)(xy, fill=label_id)
        getattr(dr, kind)(xy, fill=color)

    horizon = int(h * rng.uniform(0.40, 0.55))
    # Buildings: a skyline of blocks reaching the horizon, with window rows.
    x = -int(rng.integers(0, w // 8 + 1))
    while x < w:
        bw = int(rng.integers(max(4, w // 10), max(5, w // 4)))
        top = int(h * rng.uniform(0.08, 0.35))
        color = _jitter(rng, _STYLE[BUILDING][0], 25)
        shape("rectangle", [x, top, x + bw, horizon], BUILDING, color)
        win = max(2, h // 40)
        for wy in range(top + win, horizon - win, 3 * win):
            for wx in range(x + win, x + bw - win, 3 * win):
                dr.rectangle([wx, wy, wx + win, wy + win], fill=tuple(max(0, c - 50) for c in color))
        x += bw
    # Vegetation: tree crowns in front of the buildings.
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = int(rng.integers(0, w)), int(horizon - rng.uniform(0.05, 0.2) * h)
        r = int(rng.uniform(0.06, 0.14) * h)
        shape("ellipse", [cx - r, cy - r, cx + r, cy + r], VEGETATION)
    # Ground: sidewalk everywhere below the horizon, road as a trapezoid towards the vanishing point.
    shape("rectangle", [0, horizon, w, h], SIDEWALK)
    vx = int(w * rng.uniform(0.35, 0.65))
    spread = rng.uniform(0.1, 0.2) * w
    shape(
        "polygon",
        [
            (vx - spread * 0.2, horizon),
            (vx + spread * 0.2, horizon),
            (w * rng.uniform(0.85, 1.1), h),
            (w * rng.uniform(-0.1, 0.15), h),
        ],
        ROAD,
    )
    # Poles on the sidewalk.
    for _ in range(int(rng.integers(1, 3))):
        px = int(rng.choice([rng.uniform(0.02, 0.2), rng.uniform(0.8, 0.98)]) * w)
        pw = max(2, w // 80)
        shape(
            "rectangle", [px, int(h * rng.uniform(0.15, 0.3)), px + pw, int(h * rng.uniform(0.75, 0.9))], POLE
        )
    # Cars on the road, bigger when lower in the image.
    for _ in range(int(rng.integers(1, 4))):
        base = int(rng.uniform(horizon + 0.1 * h, 0.92 * h))
        size = (base - horizon) / (h - horizon)
        cw, ch = int(w * 0.25 * size) + 6, int(h * 0.18 * size) + 4
        cx = int(vx + rng.uniform(-0.6, 0.6) * (w * 0.4 * size))
        color = [(30, 40, 150), (150, 20, 20), (20, 60, 110)][int(rng.integers(0, 3))]
        shape("rectangle", [cx - cw // 2, base - ch, cx + cw // 2, base], CAR, _jitter(rng, color, 15))
        shape(
            "rectangle",
            [cx - cw // 3, base - ch - ch // 2, cx + cw // 3, base - ch],
            CAR,
            _jitter(rng, (150, 190, 210), 10),
        )  # cabin windows
    # People on the sidewalk near the image sides.
    for _ in range(int(rng.integers(1, 3))):
        base = int(rng.uniform(horizon + 0.05 * h, 0.95 * h))
        size = (base - horizon) / (h - horizon)
        ph, pw = int(h * 0.3 * size) + 6, int(w * 0.025 * size) + 2
        px = int(rng.choice([rng.uniform(0.03, 0.22), rng.uniform(0.78, 0.97)]) * w)
        shape("rectangle", [px - pw, base - ph + pw * 2, px + pw, base], PERSON)
        shape(
            "ellipse",
            [px - pw, base - ph, px + pw, base - ph + pw * 2],
            PERSON,
            _jitter(rng, (225, 180, 150), 10),
        )
    # Void: the ego-vehicle bonnet at the bottom in some frames.
    if rng.random() < 0.5:
        shape("rectangle", [0, int(h * 0.95), w, h], EGO)

    label = np.asarray(lab, dtype=np.uint8)
    image = np.asarray(rgb, dtype=np.float32)
    # Class texture: per-pixel noise whose strength is a class cue; the sky gets a vertical gradient.
    noise_std = np.zeros(256, dtype=np.float32)
    for label_id, (_, std) in _STYLE.items():
        noise_std[label_id] = std
    image += rng.normal(0.0, 1.0, size=image.shape).astype(np.float32) * noise_std[label][..., None]
    rows = np.linspace(-20, 20, h, dtype=np.float32)[:, None, None]
    image += np.where((label == SKY)[..., None], rows, 0.0)
    # Lighting: brightness and gamma per image.
    image = np.clip(image * rng.uniform(0.75, 1.25), 0, 255) / 255.0
    image = np.power(image, rng.uniform(0.8, 1.25)) * 255.0
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), label


def write_dataset(
    root: str | Path, train: int, val: int, size: tuple[int, int] = (128, 256), seed: int = 0, test: int = 0
) -> Path:
    """Write ``train``/``val``/``test`` scenes of ``size = (H, W)`` under ``root``; return ``root``."""
    root = Path(root)
    for split, count in (("train", train), ("val", val), ("test", test)):
        city = CITIES[split]
        img_dir = root / "leftImg8bit" / split / city
        gt_dir = root / "gtFine" / split / city
        if count:
            img_dir.mkdir(parents=True, exist_ok=True)
            gt_dir.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            rng = np.random.default_rng([seed, _SPLIT_CODE[split], index])
            image, label = render_scene(rng, *size)
            stem = f"{city}_{index:06d}_000019"
            Image.fromarray(image).save(img_dir / f"{stem}_leftImg8bit.png")
            Image.fromarray(label).save(gt_dir / f"{stem}_gtFine_labelIds.png")
    log.info("wrote %d/%d/%d synthetic scenes of %dx%d to %s", train, val, test, size[0], size[1], root)
    return root


def parse_size(text: str) -> tuple[int, int]:
    """``'128x256'`` -> ``(128, 256)`` (height x width), at least 16x16."""
    return parse_hw(text, minimum=16)


def main(argv: list[str] | None = None) -> int:
    """Console entry ``frrn_seg_synth``."""
    parser = argparse.ArgumentParser(prog="frrn_seg_synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="dataset root to write (Cityscapes layout)")
    parser.add_argument("--train", type=int, default=16, help="training scenes (default 16)")
    parser.add_argument("--val", type=int, default=4, help="validation scenes (default 4)")
    parser.add_argument("--test", type=int, default=0, help="test scenes (default 0)")
    parser.add_argument("--size", type=parse_size, default=(128, 256), help="HxW (default 128x256)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_dataset(args.out_dir, args.train, args.val, args.size, args.seed, args.test)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
