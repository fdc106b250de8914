"""FRRN and CSRNet transforms: majority vote, translation, gamma, crop/flip/scale, normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from frrn_seg_training import transforms as T


def test_majority_vote_needs_more_than_half():
    label = np.array(
        [
            [1, 1, 2, 2],
            [1, 2, 2, 2],
            [3, 3, 4, 4],
            [5, 5, 4, 255],
        ],
        dtype=np.uint8,
    )
    out = T.majority_vote_downsample(label, 2)
    # block (0,0): 1 covers 3/4 -> 1; (0,1): 2 covers 4/4 -> 2; (1,0): 3 and 5 tie at 2/4 -> void;
    # (1,1): 4 covers 3/4 (void 1/4) -> 4.
    np.testing.assert_array_equal(out, [[1, 2], [255, 4]])


def test_majority_vote_exactly_half_is_void_and_void_majority_is_void():
    label = np.array([[7, 7, 255, 255], [9, 9, 255, 7]], dtype=np.uint8)
    np.testing.assert_array_equal(T.majority_vote_downsample(label, 2), [[255, 255]])


def test_majority_vote_drops_remainder_and_factor_one_copies():
    label = np.arange(30, dtype=np.uint8).reshape(5, 6)
    assert T.majority_vote_downsample(label, 4).shape == (1, 1)
    np.testing.assert_array_equal(T.majority_vote_downsample(label, 1), label)


def test_translation_reflects_image_and_voids_label():
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    label = np.arange(20, dtype=np.uint8).reshape(4, 5)
    img, lab = T.translate_pair(image, label, dx=2, dy=-1)
    # out[y, x] = in[y + 1, x - 2]
    np.testing.assert_array_equal(lab[:3, 2:], label[1:, :3])
    assert (lab[:, :2] == 255).all() and (lab[3, :] == 255).all()
    np.testing.assert_array_equal(img[:3, 2:], image[1:, :3])
    # reflect padding: column 1 mirrors column 3 of the shifted content (input column 1 -> out column 3)
    np.testing.assert_array_equal(img[:3, 1], image[1:, 1])
    np.testing.assert_array_equal(img[:3, 0], image[1:, 2])
    assert img.shape == image.shape and lab.shape == label.shape


def _void_margins(lab: np.ndarray) -> tuple[int, int]:
    """(dx, dy) of a translated all-zero label, read off its void border: a shift right/down voids
    the left columns/top rows, a shift left/up the right columns/bottom rows."""
    cols, rows = (lab == 255).all(axis=0), (lab == 255).all(axis=1)

    def lead(a: np.ndarray) -> int:
        return int(np.argmin(a)) if not a.all() else len(a)

    return lead(cols) - lead(cols[::-1]), lead(rows) - lead(rows[::-1])


def test_random_translation_covers_every_offset_in_range():
    rng = np.random.default_rng(0)
    image = np.random.default_rng(1).integers(0, 255, (20, 20, 3), dtype=np.uint8)
    label = np.zeros((20, 20), dtype=np.uint8)
    seen_dx, seen_dy = set(), set()
    for _ in range(200):
        img, lab = T.random_translate(image, label, 3, rng)
        dx, dy = _void_margins(lab)
        assert abs(dx) <= 3 and abs(dy) <= 3
        ref_img, ref_lab = T.translate_pair(image, label, dx, dy)  # the shift really is (dx, dy)
        np.testing.assert_array_equal(lab, ref_lab)
        np.testing.assert_array_equal(img, ref_img)
        seen_dx.add(dx)
        seen_dy.add(dy)
    # Integer offsets uniform in [-o, o]: both extremes (and everything between) occur.
    assert seen_dx == set(range(-3, 4)) and seen_dy == set(range(-3, 4))
    assert T.random_translate(image, label, 0, rng)[0] is image  # o = 0: untouched


def test_gamma_formula_and_application():
    assert T.gamma_from_g(0.05) == pytest.approx(0.8152, abs=1e-4)
    assert T.gamma_from_g(0.0) == pytest.approx(1.0)
    assert T.gamma_from_g(-0.05) == pytest.approx(1 / 0.8152, abs=1e-3)
    img = np.array([[[0, 64, 255]]], dtype=np.uint8)
    out = T.apply_gamma(img, 0.5)
    np.testing.assert_allclose(out[0, 0], [0.0, (64 / 255) ** 0.5, 1.0], rtol=1e-6)


def test_random_gamma_spans_both_sides_of_one():
    """g ~ U[-0.05, 0.05] -> gamma in [0.8152, 1/0.8152]: over many draws both ends are approached
    (brightening and darkening), never exceeded, and the whole image gets one gamma."""
    rng = np.random.default_rng(1)
    base = 128 / 255
    gammas = []
    for _ in range(300):
        x = T.random_gamma(np.full((2, 2, 3), 128, np.uint8), 0.05, rng)
        assert np.ptp(x) == 0
        gammas.append(np.log(float(x[0, 0, 0])) / np.log(base))
    gammas = np.array(gammas)
    lo, hi = T.gamma_from_g(0.05), T.gamma_from_g(-0.05)
    assert lo - 1e-4 <= gammas.min() < lo + 0.02 and hi - 0.02 < gammas.max() <= hi + 1e-4
    assert 0.3 < (gammas < 1).mean() < 0.7  # about half brighten, half darken
    assert len(np.unique(gammas.round(6))) > 250  # a continuous draw, not a few fixed values
    assert (T.random_gamma(np.full((1, 1, 3), 128, np.uint8), 0.0, rng) == np.float32(base)).all()


def test_csrnet_crop_pads_label_with_void_and_image_with_fill():
    rng = np.random.default_rng(0)
    image = np.full((4, 6, 3), 10, np.uint8)
    label = np.ones((4, 6), np.uint8)
    img, lab = T.random_crop(image, label, (8, 6), rng, fill=(124, 116, 104))
    assert img.shape == (8, 6, 3) and lab.shape == (8, 6)
    assert (lab[4:] == 255).all() and (lab[:4] == 1).all()
    assert (img[4:] == [124, 116, 104]).all()


def test_scale_uses_nearest_for_labels_and_flip_is_paired():
    label = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    image = np.zeros((2, 2, 3), np.uint8)
    _, lab = T.scale_pair(image, label, 2.0)
    assert set(np.unique(lab)) <= {0, 1, 2, 3} and lab.shape == (4, 4)
    rng = np.random.default_rng(0)
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    flipped = [T.random_hflip(image, label, rng) for _ in range(16)]
    for img, lab in flipped:
        same = np.array_equal(lab, label)
        assert same == np.array_equal(img, image)
    assert any(not np.array_equal(lab, label) for _, lab in flipped)


def test_to_tensor_normalises():
    img, lab = T.to_tensor(
        np.full((2, 3, 3), 255, np.uint8), np.zeros((2, 3), np.uint8), (0.5, 0.5, 0.5), (0.25, 0.5, 1.0)
    )
    assert img.shape == (3, 2, 3) and lab.dtype.is_floating_point is False
    assert img[:, 0, 0].tolist() == pytest.approx([2.0, 1.0, 0.5])
