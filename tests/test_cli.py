"""The `restora` command line, driven as a subprocess (`python -m restora ...`) for the main paths
and for every kind of bad input, with a tiny random prior on 32x32 / 64x64 images and 2-3 steps."""

from __future__ import annotations

import csv
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import save_tiny_prior
from restora.cli import main
from restora.priors.base import fast_runtime
from restora.priors.loaders import save_restora_prior
from restora.priors.unet import MODEL_SIZES, build_restora_prior

pytestmark = pytest.mark.usefixtures("one_thread")

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def cli(*args: str | Path, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m restora ARGS` and return the finished process (text stdout/stderr)."""
    return subprocess.run([sys.executable, "-m", "restora", *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("restora: error:")]


def assert_one_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """Exit status ``code``, exactly one error line naming ``needles``, and no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = error_lines(proc)
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def smooth_image(rng: np.random.Generator, size: int, channels: int = 3) -> np.ndarray:
    coarse = Image.fromarray((rng.random((4, 4, channels)) * 255).astype(np.uint8).squeeze())
    return np.asarray(coarse.resize((size, size), Image.BILINEAR))



@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with tiny.safetensors (random tiny restora prior) and clean/ (three 32x32 RGB images)."""
    root = tmp_path_factory.mktemp("cli")
    save_tiny_prior(root / "tiny.safetensors")
    rng = np.random.default_rng(0)
    (root / "clean").mkdir()
    for i in range(3):
        Image.fromarray(smooth_image(rng, 32)).save(root / "clean" / f"im{i}.png")
    return root


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------------- main paths


def test_degrade_restore_eval_roundtrip(work: Path) -> None:
    proc = cli("degrade", "clean", "--task", "sr4", "--sigma-y", "12.75", "--noise-scale", "255",
               "--seed", "3", "-o", "m_sr4", "--save-tensor", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "0.1 on the [-1,1] scale" in proc.stdout
    m = work / "m_sr4"
    side = json.loads((m / "im1.json").read_text())
    assert side["format"] == "restora-measurement-v1"
    assert side["task"] == "sr4" and side["seed"] == 4 and side["index"] == 1  # seed + sorted index
    assert side["sigma_y"] == pytest.approx(0.1) and side["sigma_y_scales"]["255"] == pytest.approx(12.75)
    assert side["image_shape"] == [3, 32, 32] and side["measurement_shape"] == [3, 8, 8]
    assert side["source"].endswith("im1.png") and side["tensor"] == "im1.npy"
    assert np.load(m / "im1.npy").shape == (3, 8, 8)
    assert Image.open(m / "im1.png").size == (8, 8)
    # one image alone with its sidecar's seed gives the same noisy measurement
    assert main(["degrade", str(work / "clean" / "im1.png"), "--task", "sr4", "--sigma-y", "0.1",
                 "--seed", str(side["seed"]), "-o", str(work / "m_one"), "--save-tensor", "-q"]) == 0
    np.testing.assert_array_equal(np.load(work / "m_one" / "im1.npy"), np.load(m / "im1.npy"))

    # restore: task and sigma_y come from the sidecars (the .npy is preferred over the .png)
    proc = cli("restore", "m_sr4", "--prior", "tiny.safetensors", "--steps", "2", "--batch-size", "2",
               "-o", "r_sr4", "--reference", "clean", "--grid", "--save-intermediate", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert error_lines(proc) == []
    r = work / "r_sr4"
    for i in range(3):
        assert Image.open(r / f"im{i}.png").size == (32, 32)
        assert (r / "grid" / f"im{i}.png").is_file() and (r / "intermediate" / f"im{i}.png").is_file()
    assert not list(r.glob(".tmp-*"))  # atomic writes leave no temporary files
    rows = read_rows(r / "summary.csv")
    assert [Path(row["file"]).name for row in rows] == ["im0.npy", "im1.npy", "im2.npy"]
    for row in rows:
        assert row["status"] == "ok" and row["task"] == "sr4" and row["solver"] == "diffpir"
        assert row["steps"] == "2" and row["nfe"] == "2" and float(row["seconds"]) > 0
        assert float(row["sigma_y"]) == pytest.approx(0.1)
        assert 0 < float(row["psnr"]) < 100 and -1 <= float(row["ssim"]) <= 1 and row["psnr_y"]
    assert [row["batch_size"] for row in rows] == ["2", "2", "1"]
    assert json.loads((r / "run.json").read_text())["solver"] == "diffpir"
    # a value given on the command line wins over the sidecar's
    assert main(["restore", str(m / "im0.npy"), "--sigma-y", "0.2", "--prior", str(work / "tiny.safetensors"),
                 "--steps", "2", "-o", str(work / "r_override"), "-q"]) == 0
    row = read_rows(work / "r_override" / "summary.csv")[0]
    assert row["task"] == "sr4" and float(row["sigma_y"]) == pytest.approx(0.2)

    # eval: Markdown on stdout, and JSON / CSV files
    proc = cli("eval", "r_sr4", "clean", "--crop-border", "2", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "| image | PSNR (dB) | SSIM | PSNR-Y (dB) | SSIM-Y |" in proc.stdout
    assert "**mean (3)**" in proc.stdout
    assert main(["eval", str(r), str(work / "clean"), "-o", str(work / "ev.json"), "-q"]) == 0
    data = json.loads((work / "ev.json").read_text())
    assert data["summary"]["count"] == 3 and len(data["rows"]) == 3
    # the summary's PSNR (no crop) is the eval's
    assert data["rows"][0]["psnr"] == pytest.approx(float(rows[0]["psnr"]), abs=1e-4)
    assert main(["eval", str(r), str(work / "clean"), "-o", str(work / "ev.csv"), "-q"]) == 0
    table = read_rows(work / "ev.csv")
    assert [t["name"] for t in table] == ["im0", "im1", "im2", "mean"]


def test_inpaint_masks_from_sidecars_keep_known_pixels(work: Path) -> None:
    m = work / "m_inp"
    assert main(["degrade", str(work / "clean"), "--task", "inpaint", "--mask", "random:0.5", "--seed", "1",
                 "-o", str(m), "-q"]) == 0
    masks = [np.asarray(Image.open(m / f"im{i}.mask.png")) > 127 for i in range(3)]
    assert all(abs(k.mean() - 0.5) < 0.01 for k in masks)
    assert not np.array_equal(masks[0], masks[1])  # one seed per image
    side = json.loads((m / "im0.json").read_text())
    assert side["task"] == "inpaint-random" and side["mask"] == "im0.mask.png"
    again = work / "m_inp_again"  # the same command reproduces the files
    assert main(["degrade", str(work / "clean"), "--task", "inpaint", "--mask", "random:0.5", "--seed", "1",
                 "-o", str(again), "-q"]) == 0
    for name in ("im2.png", "im2.mask.png"):
        assert (again / name).read_bytes() == (m / name).read_bytes()

    proc = cli("restore", "m_inp", "--solver", "ddnm", "--prior", "tiny.safetensors", "--steps", "2",
               "--batch-size", "3", "-o", "r_inp", cwd=work)
    assert proc.returncode == 0, proc.stderr
    for i in range(3):  # one batch, three different masks: each image keeps its own known pixels
        y = np.asarray(Image.open(m / f"im{i}.png")).astype(int)
        x = np.asarray(Image.open(work / "r_inp" / f"im{i}.png")).astype(int)
        assert np.abs(x - y)[masks[i]].max() <= 1
    assert {row["batch_size"] for row in read_rows(work / "r_inp" / "summary.csv")} == {"3"}


def test_samples_are_averaged_per_image_with_their_spread(work: Path) -> None:
    m, r = work / "m_samples", work / "r_samples"
    assert main(["degrade", str(work / "clean"), "--task", "inpaint", "--mask", "random:0.5", "--seed", "5",
                 "-o", str(m), "-q"]) == 0
    assert main(["restore", str(m), "--solver", "ddnm", "--prior", str(work / "tiny.safetensors"), "--steps",
                 "2", "--samples", "3", "--batch-size", "2", "--save-tensor", "-o", str(r), "-q"]) == 0
    rows = read_rows(r / "summary.csv")
    assert [(row["samples"], row["nfe"], row["batch_size"]) for row in rows] == [("3", "2", "2")] * 2 + [
        ("3", "2", "1")]
    for i in range(3):
        known = np.asarray(Image.open(m / f"im{i}.mask.png")) > 127
        y = np.asarray(Image.open(m / f"im{i}.png")).astype(int)
        x = np.asarray(Image.open(r / f"im{i}.png")).astype(int)
        assert np.abs(x - y)[known].max() <= 1  # every draw keeps this image's own known pixels
        std = np.load(r / "std" / f"im{i}.npy")
        assert std.shape == (3, 32, 32) and np.asarray(Image.open(r / "std" / f"im{i}.png")).shape == (32, 32)
        assert std[:, known].max() < 1e-3 < std[:, ~known].mean()  # spread only where pixels are missing
    run = json.loads((r / "run.json").read_text())  # --dtype auto: the device's fast setting, recorded
    assert (run["dtype"], run["channels_last"]) == fast_runtime("cpu") and run["samples"] == 3


def test_tiling_gray_16bit_alpha_noise_scale(work: Path) -> None:
    folder = work / "mixed"
    folder.mkdir()
    rng = np.random.default_rng(1)
    gray16 = (smooth_image(rng, 64, 1).astype(np.uint16) * 257)
    Image.fromarray(gray16).save(folder / "gray16.png")
    Image.fromarray(smooth_image(rng, 64)).convert("RGBA").save(folder / "alpha.png")
    proc = cli("restore", folder, "--task", "denoise", "--sigma-y", "25", "--noise-scale", "255",
               "--prior", "tiny.safetensors", "--steps", "2", "--tile", "32", "--tile-overlap", "8",
               "-o", work / "r_mixed", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "sigma_y = 0.196078 on the [-1,1] scale" in proc.stdout
    assert "restora: warning: alpha.png: alpha channel dropped" in proc.stderr
    rows = read_rows(work / "r_mixed" / "summary.csv")
    assert [row["tile"] for row in rows] == ["32", "32"]
    assert Image.open(work / "r_mixed" / "gray16.png").size == (64, 64)
    # the gray photo stays gray (the colour prior runs it as GrayAsColor); the RGB one stays RGB
    assert Image.open(work / "r_mixed" / "gray16.png").mode in ("L", "I;16")
    assert Image.open(work / "r_mixed" / "alpha.png").mode == "RGB"


def test_gray_measurement_with_colour_prior(work: Path) -> None:
    """A gray photo, and an RGB one degraded with --gray, give gray measurements (sidecars with a
    one-channel image shape) that the colour prior restores as gray images."""
    (work / "clean_gray").mkdir()
    Image.fromarray(smooth_image(np.random.default_rng(2), 32, 1)).save(work / "clean_gray" / "g.png")
    for source, flags in (("clean/im0.png", ["--gray"]), ("clean_gray/g.png", [])):
        name = Path(source).stem
        proc = cli("degrade", source, "--task", "sr2", *flags, "--sigma-y", "0.05", "-o", f"m_gray_{name}",
                   cwd=work)
        assert proc.returncode == 0, proc.stderr
        assert Image.open(work / f"m_gray_{name}" / f"{name}.png").mode == "L"
        proc = cli("restore", f"m_gray_{name}", "--prior", "tiny.safetensors", "--steps", "2", "-o",
                   f"r_gray_{name}", cwd=work)
        assert proc.returncode == 0, proc.stderr
        out = Image.open(work / f"r_gray_{name}" / f"{name}.png")
        assert (out.mode, out.size) == ("L", (32, 32))
    # colorize measures the gray image of a colour one: a gray photo is read as RGB for it
    proc = cli("degrade", "clean_gray/g.png", "--task", "colorize", "-o", "m_gray_colorize", cwd=work)
    assert proc.returncode == 0, proc.stderr


def test_resume_skips_finished_outputs(work: Path) -> None:
    out = work / "r_resume"
    args = ["restore", str(work / "clean" / "im0.png"), str(work / "clean" / "im1.png"), "--task", "sr2",
            "--prior", str(work / "tiny.safetensors"), "--steps", "2", "--dtype", "fp32",
            "--no-channels-last", "-o", str(out), "-q"]
    assert main(args) == 0
    run = json.loads((out / "run.json").read_text())
    assert (run["dtype"], run["channels_last"]) == ("fp32", False)
    first = (out / "im0.png").stat().st_mtime_ns
    (out / "im1.png").unlink()
    assert main([*args, "--resume"]) == 0
    assert (out / "im0.png").stat().st_mtime_ns == first and (out / "im1.png").is_file()
    rows = read_rows(out / "summary.csv")
    assert [row["status"] for row in rows] == ["skipped", "ok"]
    assert rows[0]["nfe"] == "2"  # the finished image's row is carried over


def test_torchrun_shards_inputs_over_two_gloo_ranks(work: Path) -> None:
    folder = work / "many"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(5):
        Image.fromarray(smooth_image(rng, 32)).save(folder / f"p{i}.png")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "restora", "restore", str(folder), "--task", "sr2", "--prior", "tiny.safetensors",
           "--steps", "2", "--device", "cpu", "--batch-size", "2", "-o", "r_ddp"]
    proc = subprocess.run(cmd, cwd=work, env=ENV, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    rows = read_rows(work / "r_ddp" / "summary.csv")
    assert [Path(row["file"]).name for row in rows] == [f"p{i}.png" for i in range(5)]  # none missing
    assert [row["index"] for row in rows] == ["0", "1", "2", "3", "4"]  # no duplicates
    assert all(row["status"] == "ok" for row in rows)
    assert sorted(p.name for p in (work / "r_ddp").glob("*.png")) == [f"p{i}.png" for i in range(5)]
    assert not list((work / "r_ddp").glob(".summary-rank*"))
    # round-robin shards: rank 0 gets 0, 2, 4 (batches [0, 2], [4]); the seed is seed + first index
    assert [row["seed"] for row in rows] == ["0", "1", "0", "1", "4"]


def test_bench_writes_json(work: Path) -> None:
    proc = cli("bench", "--prior", "tiny.safetensors", "--solver", "diffpir,dps", "--size", "32",
               "--batch", "1,2", "--steps", "2", "--repeats", "2", "--warmup", "1", "-o", "bench.json",
               cwd=work)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((work / "bench.json").read_text())
    assert data["device"]["type"] == "cpu" and data["random_weights"] is False
    assert len(data["results"]) == 4
    for r in data["results"]:
        assert r["nfe"] == 2 and len(r["seconds"]) == 2 and r["seconds_per_image"] > 0
        assert 0 < r["network_share"] <= 1 and r["peak_memory_bytes"] > 0
        assert r["median_seconds"] == pytest.approx(sum(r["seconds"]) / 2, rel=1e-3)  # median of two
    assert "| diffpir | tiny.safetensors | sr4 | 32 | 2 |" in proc.stdout


def test_models_convert_uses_the_safe_loader(tmp_path: Path) -> None:
    torch.save({"a.weight": torch.ones(2, 3), "b": torch.zeros(4)}, tmp_path / "ck.pt")
    proc = cli("models", "convert", tmp_path / "ck.pt", tmp_path / "ck.safetensors")
    assert proc.returncode == 0, proc.stderr
    from restora.priors.loaders import load_state_dict

    assert torch.equal(load_state_dict(tmp_path / "ck.safetensors")["a.weight"], torch.ones(2, 3))
    torch.save({"when": datetime.datetime(2020, 1, 1)}, tmp_path / "evil.pt")  # not plain tensors
    assert main(["models", "convert", str(tmp_path / "evil.pt"), str(tmp_path / "evil.safetensors")]) == 2
    assert not (tmp_path / "evil.safetensors").exists()


# ------------------------------------------------------------------------------------- bad input


def test_corrupt_and_missing_inputs_fail_alone(work: Path) -> None:
    folder = work / "some_bad"
    folder.mkdir()
    for i in range(2):
        (folder / f"ok{i}.png").write_bytes((work / "clean" / f"im{i}.png").read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    proc = cli("restore", folder, "missing.png", "--task", "sr2", "--prior", "tiny.safetensors",
               "--steps", "2", "-o", "r_some_bad", cwd=work)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = error_lines(proc)
    assert len(lines) == 2
    assert any("broken.png" in line and "cannot read image" in line for line in lines)
    assert any("missing.png" in line and "no such file" in line for line in lines)
    out = work / "r_some_bad"
    assert (out / "ok0.png").is_file() and (out / "ok1.png").is_file()
    status = {Path(r["file"]).name: r["status"] for r in read_rows(out / "summary.csv")}
    assert status == {"broken.png": "failed", "missing.png": "failed", "ok0.png": "ok", "ok1.png": "ok"}


def test_mask_size_mismatch_fails_that_image_only(work: Path) -> None:
    Image.new("L", (32, 32), 255).save(work / "mask32.png")
    small = work / "other_size"
    small.mkdir()
    Image.open(work / "clean" / "im0.png").resize((16, 16)).save(small / "tiny16.png")
    proc = cli("restore", "clean/im0.png", small / "tiny16.png", "--task", "inpaint", "--mask", "mask32.png",
               "--prior", "tiny.safetensors", "--steps", "2", "-o", "r_mask", cwd=work)
    assert_one_error(proc, 1, "tiny16.png", "mask32.png is 32x32 but the image is 16x16")
    assert (work / "r_mask" / "im0.png").is_file()


@pytest.mark.parametrize(("args", "needles"), [
    (["--task", "sr5"], ["unknown task 'sr5'", "sr4"]),
    (["--task", "sr4", "--solver", "nope"], ["unknown solver 'nope'", "diffpir"]),
    (["--task", "sr4", "--prior", "nope.safetensors"], ["unknown prior 'nope.safetensors'"]),
    (["--task", "deblur", "--kernel", "kernel.txt"], ["kernel.txt sums to 6"]),
    (["--task", "sr4", "--sigma-y", "-0.5"], ["--sigma-y must be a finite number >= 0"]),
    (["--task", "sr4", "-o", "afile/sub"], ["output folder afile/sub is not writable"]),
], ids=["task", "solver", "prior", "kernel-file", "sigma-range", "out-not-writable"])
def test_usage_errors_exit_2_before_any_work(work: Path, args: list[str], needles: list[str]) -> None:
    (work / "kernel.txt").write_text("1 2\n3 0\n")
    (work / "afile").write_text("not a folder")
    proc = cli("restore", "clean", "--prior", "tiny.safetensors", "-o", "r_usage", *args, cwd=work)
    assert_one_error(proc, 2, *needles)  # (a later --prior / -o wins)
    assert not list(work.glob("r_usage/*.png"))


@pytest.mark.parametrize(("args", "needles"), [
    (["--task", "deblur", "--kernel", "levin:99"], ["levin kernel index must be in 1..8"]),
    (["--task", "sr4-blur", "--solver", "ddrm"], ["ddrm needs an operator with an SVD"]),
    (["--task", "sr4", "--solver", "repaint"], ["repaint only handles inpainting masks"]),
    (["--task", "jpeg", "--solver", "ddnm"], ["ddnm needs a linear operator"]),
    (["--task", "sr4", "--opt", "foo=1"], ["solver 'diffpir' has no option 'foo'", "lam", "zeta"]),
    (["--task", "sr4", "--opt", "zeta=2"], ["zeta must be in [0, 1]"]),
    (["--task", "sr4", "--solver", "dps", "--opt", "spacing=bogus"], ["unknown timestep spacing"]),
    (["--task", "sr4", "--steps", "0"], ["--steps", "expected an integer >= 1"]),
    (["--task", "jpeg", "--task-opt", "quality=0"], ["quality"]),
    (["--task", "jpeg", "--task-opt", "size=3"], ["does not take option(s) ['size']"]),
    (["--task", "inpaint"], ["--task inpaint needs --mask"]),
    (["--task", "sr4", "--mask", "box"], ["--mask goes with --task inpaint"]),
    (["--task", "inpaint", "--mask", "nomask.png"], ["no such mask file"]),
    (["--task", "sr4", "--device", "cuda:7"], ["cuda"]),
    ([], ["no --task given"]),
])
def test_more_usage_errors_in_process(work: Path, capsys: pytest.CaptureFixture, args: list[str],
                                      needles: list[str]) -> None:
    if "--device" in args and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a GPU 7")
    out = work / "r_usage2"
    code = main(["restore", str(work / "clean"), "--prior", str(work / "tiny.safetensors"), "-o", str(out),
                 *args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("restora: error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert all(n in lines[0] for n in needles), lines[0]
    assert not list(out.glob("*.png"))


def test_debug_shows_the_traceback(work: Path) -> None:
    proc = cli("restore", "clean", "--task", "sr5", "-o", "r_usage", "--debug", cwd=work)
    assert proc.returncode == 2 and "Traceback" in proc.stderr and "unknown task 'sr5'" in proc.stderr


# ------------------------------------------------------------------------------------- in process


def test_version_and_help(capsys: pytest.CaptureFixture) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("restora 0.1.0")
    for command in ("restore", "degrade", "eval", "bench", "models"):
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "examples:" in text and f"restora {command}" in text
    assert main(["restore", "x.png"]) == 2  # -o is required
    assert "the following arguments are required: -o/--out" in capsys.readouterr().err


def test_train_is_delegated_unchanged(capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--help"]) == 0
    assert "usage: restora train" in capsys.readouterr().out
    assert main(["train"]) == 2  # train's own RestoraError: no --data
    assert "give at least one --data folder" in capsys.readouterr().err


def test_models_list_and_info(capsys: pytest.CaptureFixture, work: Path) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "| adm-ffhq256 |" in out and "| restora-natural | default |" in out
    assert main(["models", "info", "adm-ffhq256"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["native_size"] == 256 and info["kind"] == "adm"
    assert main(["models", "info", str(work / "tiny.safetensors")]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["format"] == "restora-unet-v1"
    assert main(["models", "info", "nope"]) == 2


def test_eval_identical_images_and_pairing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(3)
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    img = smooth_image(rng, 32)
    Image.fromarray(img).save(tmp_path / "a" / "x.png")
    Image.fromarray(img).save(tmp_path / "b" / "x.png")
    Image.fromarray(img).save(tmp_path / "a" / "orphan.png")
    code = main(["eval", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 1  # the orphan has no reference; x is still scored
    data = json.loads(captured.out)
    assert data["summary"]["count"] == 1 and data["summary"]["failed"] == 1
    assert data["rows"][1]["psnr"] == "inf" and data["rows"][1]["ssim"] == pytest.approx(1.0)
    assert "orphan.png: no reference image named 'orphan' in" in captured.err



def test_restore_uses_the_settings_tuned_for_the_prior(work: Path, capsys: pytest.CaptureFixture) -> None:
    """Published defaults < the prior's stored solver settings < --opt."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        prior = build_restora_prior(MODEL_SIZES["tiny"])
    prior.solver_settings = {"diffpir": {"sr": {"zeta": 0.77, "lam": 3.0}}}
    save_restora_prior(prior, work / "tuned.safetensors")
    image = str(work / "clean" / "im0.png")
    common = ["--task", "sr4", "--prior", str(work / "tuned.safetensors"), "--steps", "1"]
    assert main(["restore", image, *common, "-o", str(work / "r_tuned")]) == 0
    assert "diffpir on sr: steps=1 lam=3.0 zeta=0.77" in capsys.readouterr().out
    assert main(["restore", image, *common, "--opt", "zeta=0.5", "-o", str(work / "r_tuned_opt")]) == 0
    assert "lam=3.0 zeta=0.5" in capsys.readouterr().out

def test_solver_options_parsing() -> None:
    from restora.cli.options import check_solver_options
    from restora.errors import RestoraError
    from restora.pairs import parse_pairs

    opts = parse_pairs(["lam=7", "zeta=0.3", "spacing=uniform", "grad-steps=2"], "--opt")
    assert opts == {"lam": 7, "zeta": 0.3, "spacing": "uniform", "grad_steps": 2}
    checked = check_solver_options("diffpir", opts, {})
    assert checked["lam"] == 7.0 and isinstance(checked["lam"], float)
    with pytest.raises(RestoraError, match="expected KEY=VALUE"):
        parse_pairs(["lam"], "--opt")
    with pytest.raises(RestoraError, match="use the --steps option"):
        check_solver_options("ddrm", {"steps": 3}, {})
    with pytest.raises(RestoraError, match="its --opt keys are: eta"):
        check_solver_options("ddrm", {"lam": 3}, {})


def test_timed_prior_counts_calls_and_backward_time() -> None:
    from restora.operators import build_operator
    from restora.priors.wrappers import TimedPrior
    from restora.solvers import get

    torch.manual_seed(0)
    prior = build_restora_prior(MODEL_SIZES["tiny"]).eval().requires_grad_(False)
    op = build_operator("sr2", (1, 3, 16, 16))
    y = op.A(torch.zeros(1, 3, 16, 16))
    timed = TimedPrior(prior)
    get("dps")(timed, op, y, steps=3, sigma_y=0.05, generator=torch.Generator().manual_seed(0))
    assert timed.calls == 3 and timed.forward_seconds > 0 and timed.backward_seconds > 0
    timed.reset()
    get("diffpir")(timed, op, y, steps=2, sigma_y=0.05)
    assert timed.calls == 2 and timed.backward_seconds == 0


def test_fixed_size_priors_are_tiled_above_their_native_size() -> None:
    from restora.priors.tiling import TiledPrior, plan_tiles

    prior = build_restora_prior(MODEL_SIZES["tiny"]).eval()
    assert plan_tiles(prior, 64, 64, 1, overlap=8).tile is None  # fully convolutional: whole image
    prior.native_size = 32  # as a fixed-size (ADM-like) prior
    tile = plan_tiles(prior, 48, 64, 1, overlap=8).tile
    net = TiledPrior(prior, tile=tile, overlap=8)
    assert tile == 32 and net.overlap == 8
    assert plan_tiles(prior, 32, 32, 1, overlap=8).tile is None  # fits: run whole
    assert plan_tiles(prior, 64, 64, 1, tile=0, overlap=8).tile is None  # --tile 0: never
    x = torch.zeros(1, 3, 48, 64)
    with torch.no_grad():
        assert net(x, 1.0).shape == x.shape


def test_bench_random_preset_weights(tmp_path: Path) -> None:
    out = tmp_path / "adm.json"
    assert main(["bench", "--prior", "adm-ffhq256:random", "--size", "32", "--steps", "1", "--repeats", "1",
                 "--warmup", "0", "--device", "cpu", "-o", str(out), "-q"]) == 0
    data = json.loads(out.read_text())
    assert data["random_weights"] is True and data["priors"][0]["weights"] == "random"
    assert data["priors"][0]["native_size"] == 256 and data["results"][0]["random_weights"] is True
    assert data["results"][0]["tile"] is None and data["results"][0]["nfe"] == 1
