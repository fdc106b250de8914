"""frrn_seg_import --format frrn-lasagne: the authors' FRRN .npz files -> node checkpoints.

The files are written here in the authors' format (np.savez of Lasagne's positional arrays) from
the shapes their builders create; the imported model is compared with an independent run of the
authors' network on those arrays (test/frrn_lasagne_reference.py), not with the importer's inverse.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from frrn_lasagne_reference import authors_forward, authors_shapes, random_arrays

from frrn_seg_ros.cli.import_weights import main as import_main
from frrn_seg_ros.core.checkpoint import load_checkpoint, load_model
from frrn_seg_ros.core.engine import EngineConfig, Frame, OutputRequest, SegmentationEngine
from frrn_seg_ros.core.importers.frrn_lasagne import lasagne_order
from frrn_seg_ros.core.models import build_model

SIZES = {"frrn_a": (64, 128), "frrn_b": (64, 128)}


def write_npz(path: Path, arrays: list[np.ndarray], **extra: np.ndarray) -> Path:
    np.savez(path, *arrays, **extra)
    return path


@pytest.fixture(scope="module")
def authors_files(tmp_path_factory) -> dict[str, tuple[Path, list[np.ndarray]]]:
    root = tmp_path_factory.mktemp("authors")
    out = {}
    for seed, arch in enumerate(("frrn_a", "frrn_b")):
        arrays = random_arrays(arch, seed=seed)
        out[arch] = (write_npz(root / f"{arch}.npz", arrays), arrays)
    return out


def run_import(arch: str, src: Path, dst: Path, capsys) -> tuple[int, str]:
    code = import_main(
        ["--format", "frrn-lasagne", "--arch", arch, "--input", str(src), "--output", str(dst)]
    )
    captured = capsys.readouterr()
    return code, captured.err.strip()


@pytest.mark.parametrize(("arch", "count"), [("frrn_a", 277), ("frrn_b", 325)])
def test_array_count_and_order_of_shapes(arch: str, count: int) -> None:
    authors = authors_shapes(arch)
    assert len(authors) == count
    assert authors[0] == ("W", (48, 3, 5, 5)) and authors[-1] == ("b", (19,))
    model = build_model(arch)
    own = model.state_dict()
    ours = []
    for slot in lasagne_order(model):
        if slot.kind in ("conv", "bias"):
            ours.append(tuple(own[slot.key].shape))
        else:
            ours.append(tuple(own[f"{slot.key}.weight"].shape))
    assert ours == [shape for _, shape in authors]


def test_flipped_kernel_convolution_against_a_numpy_loop(authors_files, tmp_path, capsys) -> None:
    src, arrays = authors_files["frrn_a"]
    assert run_import("frrn_a", src, tmp_path / "a.safetensors", capsys)[0] == 0
    _, state = load_checkpoint(tmp_path / "a.safetensors")
    kernel = arrays[0].astype(np.float64)  # stem: (48, 3, 5, 5), Lasagne convolves with it
    x = np.random.default_rng(3).random((3, 7, 9))
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    expected = np.zeros((48, 7, 9))
    for o in range(48):
        for r in range(7):
            for c in range(9):
                for i in range(5):
                    for j in range(5):  # a true convolution: the kernel is traversed backwards
                        expected[o, r, c] += (padded[:, r + i, c + j] * kernel[o, :, 4 - i, 4 - j]).sum()
    ours = torch.nn.functional.conv2d(torch.from_numpy(x)[None], state["stem.0.weight"].double(), padding=2)[
        0
    ]
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


def test_batchnorm_from_the_inv_std_formula(authors_files, tmp_path, capsys) -> None:
    src, arrays = authors_files["frrn_a"]
    assert run_import("frrn_a", src, tmp_path / "a.safetensors", capsys)[0] == 0
    model, _ = load_model(tmp_path / "a.safetensors")
    beta, gamma, mean, inv_std = (arrays[i].astype(np.float64)[None, :, None, None] for i in range(1, 5))
    x = np.random.default_rng(4).normal(size=(2, 48, 5, 6))
    expected = (x - mean) * gamma * inv_std + beta  # Lasagne's BatchNormLayer, deterministic
    bn = model.stem[1].double().eval()
    with torch.inference_mode():
        ours = bn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["frrn_a", "frrn_b"])
def test_imported_model_equals_the_authors_network(arch: str, authors_files, tmp_path, capsys) -> None:
    src, arrays = authors_files[arch]
    dst = tmp_path / f"{arch}.safetensors"
    code, err = run_import(arch, src, dst, capsys)
    assert code == 0, err
    model, meta = load_model(dst)
    assert meta.architecture == arch and meta.num_classes == 19
    prov = meta.provenance
    assert prov["source_format"] == "frrn-lasagne" and prov["source_file"] == f"{arch}.npz"
    assert prov["input_downsample"] == (4 if arch == "frrn_a" else 2)
    assert len(prov["source_sha256"]) == 64 and prov["paper_miou"]
    assert meta.mean == (0.0, 0.0, 0.0) and meta.std == (1.0, 1.0, 1.0)
    x = torch.rand(2, 3, *SIZES[arch], generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.inference_mode():
        ours = model.double()(x)
        theirs = authors_forward(arrays, x, arch)
    scale = float(theirs.abs().max())
    assert scale > 1.0
    # the checkpoint stores float32 (running_var = 1/inv_std**2 - eps rounded): float32 scale;
    # torch's bilinear rule instead of Theano's moves them by ~0.17 of the scale (measured)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=2e-6 * scale)


def test_engine_runs_the_import_at_the_trained_resolution(authors_files, tmp_path, capsys) -> None:
    src, arrays = authors_files["frrn_a"]
    dst = tmp_path / "a.safetensors"
    assert run_import("frrn_a", src, dst, capsys)[0] == 0
    engine = SegmentationEngine.from_file(dst, EngineConfig(device="cpu", warmup_iters=0))
    assert engine.input_downsample == 4
    seen: list[tuple[int, ...]] = []
    hook = engine._model.register_forward_pre_hook(lambda _m, inp: seen.append(tuple(inp[0].shape)))
    frame = np.random.default_rng(6).integers(0, 256, (256, 512, 3), dtype=np.uint8)
    result = engine.segment([Frame(frame, "rgb8")], OutputRequest(color=False))[0]
    hook.remove()
    assert seen[0][-2:] == (64, 128)  # a 256x512 camera frame runs at quarter resolution
    assert result.labels.shape == (256, 512)
    # at the network's own size, the engine's labels are the authors' network's arg-max
    small = frame[::4, ::4].copy()
    exact = SegmentationEngine.from_file(
        dst, EngineConfig(device="cpu", warmup_iters=0, input_size=(64, 128))
    )
    labels = exact.segment([Frame(small, "rgb8")], OutputRequest(color=False))[0].labels
    x = torch.from_numpy(small).permute(2, 0, 1)[None].double() / 255.0
    with torch.inference_mode():
        expected = authors_forward(arrays, x, "frrn_a").argmax(1)[0].numpy()
    assert (labels == expected).mean() >= 0.999


def _cut(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return dst


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("other_model", "325 arrays, expected 277 for frrn_a (that is the count of frrn_b"),
        ("truncated", "truncated or corrupt"),
        ("one_array_less", "276 arrays, expected 277"),
        ("gap", "array arr_7 is missing"),
        ("extra_entry", "unexpected entries ['notes']"),
        (
            "shape",
            "array arr_10 (input_units.0.conv2.0.weight): expected shape (48, 48, 3, 3), "
            "found (48, 48, 1, 9)",
        ),
        ("pickle", "pickled objects, refused"),
        ("not_a_zip", "truncated or corrupt"),
        ("bad_inv_std", "array arr_4 (stem.1.inv_std): inv_std must be finite and positive"),
    ],
)
def test_malformed_files_name_the_array_and_write_nothing(
    case, needle, authors_files, tmp_path, capsys
) -> None:
    src, arrays = authors_files["frrn_a"]
    bad = tmp_path / "bad.npz"
    if case == "other_model":
        bad = authors_files["frrn_b"][0]
    elif case == "truncated":
        _cut(src, bad)
    elif case == "one_array_less":
        write_npz(bad, arrays[:-1])
    elif case == "gap":
        np.savez(bad, **{f"arr_{i}": a for i, a in enumerate(arrays) if i != 7})
    elif case == "extra_entry":
        write_npz(bad, arrays, notes=np.zeros(3))
    elif case == "shape":
        changed = list(arrays)
        changed[10] = changed[10].reshape(48, 48, 1, 9)
        write_npz(bad, changed)
    elif case == "pickle":
        changed = list(arrays)
        changed[3] = np.array([{"a": 1}], dtype=object)
        write_npz(bad, changed)
    elif case == "not_a_zip":
        bad.write_text("these are not the weights you are looking for\n")
    elif case == "bad_inv_std":
        changed = list(arrays)
        changed[4] = -changed[4]
        write_npz(bad, changed)
    dst = tmp_path / "out.safetensors"
    code, err = run_import("frrn_a", bad, dst, capsys)
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert needle in err, err
    assert not dst.exists() and not list(tmp_path.glob(".out.safetensors*"))


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--format", "frrn-lasagne", "--input", "IN", "--output", "o.safetensors"], "needs --arch"),
        (
            ["--format", "frrn-lasagne", "--arch", "frrn_a", "--input", "IN", "--output", "o.onnx"],
            "must end in",
        ),
        (
            ["--format", "frrn-lasagne", "--arch", "frrn_a", "--input", "MISSING", "--output", "o.pt"],
            "does not exist",
        ),
        (
            ["--format", "frrn-lasagne", "--arch", "frrn_a", "--input", "DIR", "--output", "o.pt"],
            "is not a regular file",
        ),
        (["--format", "caffe", "--input", "IN", "--output", "o.pt"], "argument --format: invalid choice"),
        (["--format", "frrn-lasagne", "--arch", "frrn_c", "--input", "IN", "--output", "o.pt"], "--arch"),
    ],
)
def test_bad_command_lines_end_in_one_line_and_exit_2(argv, needle, authors_files, tmp_path, capsys) -> None:
    replace = {
        "IN": str(authors_files["frrn_a"][0]),
        "MISSING": str(tmp_path / "nope.npz"),
        "DIR": str(tmp_path),
    }
    try:
        code = import_main([replace.get(a, a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and needle in err, err


def test_npz_must_be_a_zip_of_arrays(tmp_path) -> None:
    """np.savez writes a zip: check the fixture writer produces the authors' container."""
    path = write_npz(tmp_path / "x.npz", [np.zeros(2, np.float32), np.ones(3, np.float32)])
    assert zipfile.ZipFile(path).namelist() == ["arr_0.npy", "arr_1.npy"]
