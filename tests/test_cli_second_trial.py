"""The second hostile trial's holes (issue 31), one test per hole, each failing before its fix: exploded
outputs counted ok, sidecar-named files overwritten, --resume trusting partial results (disk full,
SIGKILL), eval -o over a scored image, train replacing a run, and the rough cases by principle (one line
and exit 2 before any work, a bad file failing alone, records appended, sidecar files confined)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import digest, photos_and_sr4, run, tiny_prior
from restora.cli import main
from restora.cli.outputs import restoration_problem
from restora.errors import RestoraError
from restora.priors.loaders import load_restora_prior, read_metadata, save_state_dict
from restora.priors.unet import MODEL_SIZES, UNetConfig, build_restora_prior

pytestmark = pytest.mark.usefixtures("one_thread")


def rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {Path(r["file"]).stem: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """tiny.safetensors (a random tiny prior), clean/ with three smooth 64x64 photos and m/ with their
    sr4 measurements (sidecars, PNG and .npy)."""
    root = tmp_path_factory.mktemp("second")
    tiny_prior(root / "tiny.safetensors")
    photos_and_sr4(root, 64, 6, Image.BICUBIC, seed=1)
    return root


def restore_args(work: Path, out: Path, *extra) -> list:
    return ["restore", work / "m", "-o", out, "--prior", work / "tiny.safetensors", "--steps", "2", *extra]


# 1. an exploded restoration is a failure with its reason, never an ok output


def test_a_restoration_far_outside_the_image_range_is_a_failure(capsys, work, tmp_path):
    """DiffPIR with 2 steps on Gaussian deblurring: the data step is a near pseudo-inverse at the top noise
    level and the result spans tens of times the image range (the trial's -28..+32)."""
    assert main(["degrade", str(work / "clean" / "c0.png"), "--task", "deblur-gauss", "--sigma-y", "0.05",
                 "-o", str(tmp_path / "blur"), "--save-tensor", "-q"]) == 0
    out = tmp_path / "q"
    code, errors, text = run(capsys, "restore", tmp_path / "blur", "-o", out, "--steps", "2", "--save-tensor",
                             "--reference", work / "clean")
    assert code == 1, text
    assert len(errors) == 1 and "left the image range" in errors[0] and "--steps" in errors[0]
    assert not (out / "c0.png").exists() and not (out / "c0.npy").exists()
    assert rows(out / "summary.csv")["c0"]["status"] == "failed"


def test_the_output_checks_range_and_amplified_noise():
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4), size=(32, 32), mode="bilinear") * 2 - 1
    assert restoration_problem(smooth, y, smooth, 0.05) is None
    wild = smooth.clone()
    wild[..., :4, :] = 5.0  # 12% of the pixels at 3 on the [0, 1] scale
    assert "left the image range" in restoration_problem(wild, y, smooth, 0.05)
    noise = torch.randn(smooth.shape, generator=torch.Generator().manual_seed(0))
    assert restoration_problem(smooth + noise, y, smooth, 0.05) is not None
    noisy = (smooth + 0.5 * noise).clamp(-1.9, 1.9)
    assert "noisier than its measurement" in restoration_problem(noisy, y, smooth, 0.05)
    # as noisy as the measurement itself is fine (the solver kept the noise, it did not amplify it)
    kept = smooth + 0.05 * torch.randn(smooth.shape, generator=torch.Generator().manual_seed(1))
    assert restoration_problem(kept, y, kept, 0.05) is None


# 2. no file a sidecar names is overwritten


def test_restoring_into_the_measurement_folder_overwrites_nothing(capsys, work, tmp_path):
    m = tmp_path / "m"
    shutil.copytree(work / "m", m)
    before = digest(m)
    code, errors, _ = run(capsys, "restore", m, "-o", m, "--prior", work / "tiny.safetensors", "--steps", "2")
    assert code == 2 and len(errors) == 1
    assert "the sidecar's measurement file" in errors[0]
    assert digest(m) == before


# 3 and 4. an input is done only when every output the run asks for is there


def test_resume_redoes_inputs_whose_grid_or_array_is_missing(capsys, work, tmp_path):
    out = tmp_path / "r"
    args = restore_args(work, out, "--grid", "--save-tensor")
    assert run(capsys, *args)[0] == 0
    (out / "grid" / "c0.png").unlink()
    (out / "c1.npy").unlink()
    (out / "c2.npy").write_bytes(b"\x93NUMPY broken")
    code, _, text = run(capsys, *args, "--resume")
    assert code == 0, text
    table = rows(out / "summary.csv")
    assert table["c0"]["status"] == table["c1"]["status"] == table["c2"]["status"] == "ok"
    assert (out / "grid" / "c0.png").is_file() and np.load(out / "c1.npy").shape == (3, 64, 64)
    assert np.load(out / "c2.npy").shape == (3, 64, 64)
    assert run(capsys, *args, "--resume")[0] == 0
    assert {r["status"] for r in rows(out / "summary.csv").values()} == {"skipped"}


def test_the_main_image_is_written_last(monkeypatch, capsys, work, tmp_path):
    """A run stopped while writing the files that go with an image (here: the grid fails, as on a full
    disk or a kill) leaves no OUT/NAME.png, so --resume restores it again."""
    import restora.cli.outputs as outputs

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    out = tmp_path / "r"
    monkeypatch.setattr(outputs, "write_grid", full_disk)
    code, errors, _ = run(capsys, *restore_args(work, out, "--grid", "--save-tensor"))
    assert code == 1 and len(errors) == 3 and "No space left" in errors[0]
    assert not any((out / f"c{i}.png").exists() for i in range(3))
    monkeypatch.undo()
    code, _, text = run(capsys, *restore_args(work, out, "--grid", "--save-tensor"), "--resume")
    assert code == 0, text
    assert all((out / "grid" / f"c{i}.png").is_file() for i in range(3))


def _tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def test_disk_full_then_resume_on_a_small_tmpfs(work, tmp_path):
    """The trial's case 3 on a real full disk: the run fails with the errno, and --resume after space is
    freed writes the missing array instead of skipping the input."""
    disk = tmp_path / "tiny"
    if not _tmpfs(disk, "256k"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount)")
    try:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (256 * 1024 - 24 * 1024))  # leaves room for a PNG, not for the array
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "restora", "restore", str(work / "m" / "c0.npy"), "-o",
               str(disk / "out"), "--prior", str(work / "tiny.safetensors"), "--steps", "2", "--save-tensor"]
        first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        assert first.returncode != 0 and "Traceback" not in first.stderr
        assert not (disk / "out" / "c0.png").exists()
        filler.unlink()
        second = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=env, timeout=120)
        assert second.returncode == 0, second.stderr
        assert (disk / "out" / "c0.png").is_file() and np.load(disk / "out" / "c0.npy").shape == (3, 64, 64)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


# 5. eval -o never writes over an image it scores


@pytest.mark.parametrize("target", ["clean/c0.png", "restored/c1.png", "scores.png"])
def test_eval_output_is_never_an_image(capsys, work, tmp_path, target):
    shutil.copytree(work / "clean", tmp_path / "clean")
    shutil.copytree(work / "clean", tmp_path / "restored")
    before = digest(tmp_path)
    code, errors, _ = run(capsys, "eval", tmp_path / "restored", tmp_path / "clean", "-o", tmp_path / target)
    assert code == 2 and len(errors) == 1, errors
    assert digest(tmp_path) == before


def test_eval_output_as_a_table_still_works(capsys, work, tmp_path):
    code, _, _ = run(capsys, "eval", work / "clean", work / "clean", "-o", tmp_path / "scores.md")
    assert code == 0 and "mean (3)" in (tmp_path / "scores.md").read_text()


# 6. train never replaces a run without being told


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((48, 48, 3)) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def train_args(photos: Path, out: Path, *extra) -> list:
    return ["train", "--data", photos, "--out", out, "--model", "tiny", "--steps", "2", "--batch-size", "2",
            "--crop", "32", "--val-crop", "32", "--holdout-every", "4", "--threads", "1", "--no-progress",
            *extra]


def test_train_refuses_an_existing_run_without_resume_or_overwrite(capsys, photos, tmp_path):
    out = tmp_path / "run"
    assert run(capsys, *train_args(photos, out))[0] == 0
    before = digest(out)
    code, errors, _ = run(capsys, *train_args(photos, out))
    assert code == 2 and len(errors) == 1 and "--resume" in errors[0] and "--overwrite" in errors[0]
    assert digest(out) == before
    assert run(capsys, *train_args(photos, out, "--overwrite"))[0] == 0
    log = (out / "log.csv").read_text().splitlines()
    assert len(log) == 2  # a header and this run's one row (at its last step), not two runs appended
    weights = tmp_path / "w.safetensors"
    assert run(capsys, "train", "--export", out / "checkpoint.pt", weights)[0] == 0
    code, errors, _ = run(capsys, "train", "--export", out / "checkpoint.pt", weights)
    assert code == 2 and "--force" in errors[0]
    assert run(capsys, "train", "--export", out / "checkpoint.pt", weights, "--force")[0] == 0
    code, errors, _ = run(capsys, "train", "--export", tmp_path / "missing.pt", tmp_path / "x.safetensors")
    assert code == 2 and "no such" in errors[0]


@pytest.mark.parametrize("option", [("--lr", "nan"), ("--batch-size", "0"), ("--log-every", "0"),
                                    ("--steps", "0"), ("--model", "bogus"), ("--ema-decay", "1.5"),
                                    ("--model", '{"channels": 100000}'), ("--seed", str(2**62))])
def test_train_option_mistakes_are_one_line_exit_2(capsys, photos, tmp_path, option):
    args = train_args(photos, tmp_path / "run")
    i = args.index(option[0]) if option[0] in args else None
    if i is not None:
        args[i + 1] = option[1]
    else:
        args += list(option)
    code, errors, text = run(capsys, *args)
    assert code == 2 and len(errors) == 1, text
    assert option[0] in errors[0] and "Traceback" not in text
    assert not (tmp_path / "run").exists()


# the rough cases, by principle


def test_resume_with_other_settings_is_refused(capsys, work, tmp_path):
    out = tmp_path / "r"
    assert run(capsys, *restore_args(work, out))[0] == 0
    code, errors, _ = run(capsys, *restore_args(work, out, "--resume", "--solver", "ddrm"))
    assert code == 2 and len(errors) == 1 and "diffpir" in errors[0] and "ddrm" in errors[0]


def test_a_second_run_into_one_folder_keeps_the_first_runs_records(capsys, work, tmp_path):
    out = tmp_path / "r"
    assert run(capsys, "restore", work / "m" / "c0.npy", "-o", out, "--prior", work / "tiny.safetensors",
               "--steps", "2")[0] == 0
    assert run(capsys, "restore", work / "m" / "c1.npy", "-o", out, "--prior", work / "tiny.safetensors",
               "--steps", "3")[0] == 0
    table = rows(out / "summary.csv")
    assert set(table) == {"c0", "c1"} and table["c0"]["steps"] == "2" and table["c1"]["steps"] == "3"
    history = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert [r["steps"] for r in history] == [2, 3]
    assert json.loads((out / "run.json").read_text())["steps"] == 3


@pytest.mark.parametrize("field,value,needle", [
    ("sigma_y", "abc", "sigma_y"), ("seed", 1.5, "seed"), ("seed", "7", "seed"),
    ("kernel", "../../etc/passwd", "kernel"), ("measurement", "/etc/passwd", "measurement"),
    ("sigma_y", 42412.0, "sigma_y")])
def test_a_bad_sidecar_fails_its_file_alone(capsys, work, tmp_path, field, value, needle):
    m = tmp_path / "m"
    shutil.copytree(work / "m", m)
    side = json.loads((m / "c1.json").read_text())
    side[field] = value
    (m / "c1.json").write_text(json.dumps(side))
    out = tmp_path / "r"
    code, errors, text = run(capsys, "restore", m, "-o", out, "--prior", work / "tiny.safetensors", "--steps",
                             "2")
    assert code == 1, text
    assert len(errors) == 1 and "c1" in errors[0] and needle in errors[0]
    table = rows(out / "summary.csv")
    assert table["c0"]["status"] == table["c2"]["status"] == "ok" and table["c1"]["status"] == "failed"


@pytest.mark.parametrize("args", [("--seed", str(2**64 + 5)), ("--seed", "-1"), ("--max-memory", "0")])
def test_out_of_range_values_are_refused_up_front(capsys, work, tmp_path, args):
    code, errors, text = run(capsys, *restore_args(work, tmp_path / "r", *args))
    assert code == 2 and len(errors) == 1 and args[0] in errors[0], text
    assert not (tmp_path / "r").exists()


def test_degrade_refuses_a_poisson_rate_with_noise_beyond_the_image(capsys, work, tmp_path):
    code, errors, _ = run(capsys, "degrade", work / "clean", "--task", "denoise", "--noise", "poisson",
                          "--poisson-rate", "1e-9", "-o", tmp_path / "p")
    assert code == 2 and "--poisson-rate" in errors[0]


def test_a_bad_progress_interval_is_a_warning(capsys, work, tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORA_PROGRESS_SECONDS", "abc")
    code, _, text = run(capsys, *restore_args(work, tmp_path / "r"))
    assert code == 0 and "RESTORA_PROGRESS_SECONDS='abc'" in text


def test_solvers_refuse_integer_and_meta_measurements():
    from restora.operators import build_operator
    from restora.solvers import get

    op = build_operator("denoise", (1, 3, 16, 16))
    prior = build_restora_prior(MODEL_SIZES["tiny"])
    for y in (torch.zeros(1, 3, 16, 16, dtype=torch.int64), torch.zeros(1, 3, 16, 16, device="meta")):
        with pytest.raises(RestoraError, match="measurement"):
            get("diffpir")(prior, op, y, steps=2, sigma_y=0.1)


def test_settings_of_an_unknown_family_is_an_error():
    from restora.solvers import settings

    with pytest.raises(RestoraError, match="unknown task family"):
        settings("diffpir", "deblurr")
    assert settings("diffpir", "mri") is not None


def _edited(path: Path, out: Path, **meta: str) -> Path:
    from restora.priors.loaders import load_state_dict

    save_state_dict(load_state_dict(path), out, {**read_metadata(path), **meta})
    return out


TINY = MODEL_SIZES["tiny"].to_dict()


@pytest.mark.parametrize("meta,needle", [
    ({"sigma_data": "-1"}, "sigma_data"), ({"unet": "{not json"}, "metadata"),
    ({"unet": json.dumps({**TINY, "channels": 100000})}, "channels"),
    ({"unet": json.dumps({**TINY, "channel_mult": [1] * 5000, "num_blocks": [1] * 5000})}, "levels"),
    ({"unet": json.dumps({**TINY, "channels": 32})}, "do not fit")])
def test_broken_weights_metadata_is_one_clear_error(work, tmp_path, meta, needle):
    path = _edited(work / "tiny.safetensors", tmp_path / "bad.safetensors", **meta)
    with pytest.raises(RestoraError, match=needle) as info:
        load_restora_prior(path)
    assert len(str(info.value)) < 600


def test_unet_config_limits():
    with pytest.raises(RestoraError, match="channels"):
        UNetConfig(channels=100000)
    assert UNetConfig(**MODEL_SIZES["small"].to_dict()).channels == 32


@pytest.mark.parametrize("argv", [["--help"], ["restore"], ["degrade", "--help"], ["eval", "--help"],
                                  ["sample", "--help"], ["bench", "--help"], ["models", "list", "--help"],
                                  ["degrade", "x.png", "-o", "o", "--task", "sr4", "--sigma-y", "abc"]])
def test_help_and_usage_errors_answer_without_importing_torch(argv):
    code = ("import contextlib, io, sys\nfrom restora.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            f"    status = main({argv!r})\n"
            "print(status, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    status, torch_loaded = out.stdout.split()
    assert status in ("0", "2") and torch_loaded == "False", out.stderr


def test_a_text_file_as_weights_is_one_clear_line(capsys, work, tmp_path):
    fake = tmp_path / "weights.pt"
    fake.write_text("root:x:0:0:root:/root:/bin/bash\n")
    for args in (["models", "info", fake], ["restore", work / "m", "-o", tmp_path / "r", "--prior", fake]):
        code, errors, text = run(capsys, *args)
        assert code == 2 and len(errors) == 1 and "not a torch checkpoint" in errors[0], text


def test_a_photo_is_not_taken_as_k_space(capsys, work, tmp_path):
    code, errors, _ = run(capsys, "restore", work / "clean" / "c0.png", "--task", "mri4", "-o",
                          tmp_path / "r", "--prior", work / "tiny.safetensors", "--steps", "2")
    assert code == 1 and "not an image" in errors[0] and ".npy" in errors[0]
