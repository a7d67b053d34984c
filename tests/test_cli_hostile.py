"""The holes a hostile first-day trial of the command line found (one test per hole), each at CLI level:
lost references, non-finite outputs, memory, progress in logs, option values, early checks, resume,
leftovers, unconditional sampling, Poisson noise and threads."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import digest, photos_and_sr4, run
from restora.cli import main
from restora.cli.runtime import default_threads
from restora.priors.loaders import save_restora_prior
from restora.priors.unet import MODEL_SIZES, build_restora_prior

pytestmark = pytest.mark.usefixtures("one_thread")

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "default"}


def cli(*args, cwd: Path, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "restora", *map(str, args)], cwd=cwd, env=env or ENV,
                          capture_output=True, text=True, timeout=timeout)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))



@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """tiny.safetensors (random tiny prior), nan.safetensors (its weights with a NaN), clean/ with three
    32x32 images and m/ with their sr4 measurements (sidecars)."""
    root = tmp_path_factory.mktemp("hostile")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        prior = build_restora_prior(MODEL_SIZES["tiny"])
    save_restora_prior(prior, root / "tiny.safetensors")
    with torch.no_grad():
        prior.net.out[-1].bias.fill_(float("nan"))
    save_restora_prior(prior, root / "nan.safetensors")
    photos_and_sr4(root, 32, 4, Image.BILINEAR, seed=0)
    return root


# 1. an output folder that is the reference folder would overwrite the references


def test_outputs_never_overwrite_the_references(work, capsys, tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    for p in (work / "clean").iterdir():
        (refs / p.name).write_bytes(p.read_bytes())
    before = digest(refs)
    code, errors, _ = run(capsys, "restore", work / "m" / "c0.npy", "-o", refs, "--reference", refs,
                          "--prior", work / "tiny.safetensors", "--steps", "2")
    assert code == 2 and len(errors) == 1 and "reference" in errors[0], errors
    assert digest(refs) == before
    # nor a mask file the run reads, wherever -o points
    mask = tmp_path / "holes.png"
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(mask)
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "holes.png").write_bytes((work / "clean" / "c0.png").read_bytes())
    masked = digest(tmp_path)
    code, errors, _ = run(capsys, "restore", tmp_path / "img" / "holes.png", "--task", "inpaint", "--mask",
                          mask,
                          "-o", tmp_path, "--prior", work / "tiny.safetensors", "--steps", "2")
    assert code == 2 and "holes.png" in errors[0] and "the mask" in errors[0], errors
    assert digest(tmp_path) == masked


# 2. absurd noise levels and non-finite outputs


def test_absurd_noise_levels_are_refused_up_front(work, capsys, tmp_path):
    code, errors, _ = run(capsys, "degrade", work / "clean" / "c0.png", "--task", "sr4", "--sigma-y", "1e30",
                          "-o", tmp_path / "d")
    assert code == 2 and "intensity range" in errors[0] and "0.01-0.2" in errors[0]
    assert not (tmp_path / "d").exists()
    code, errors, _ = run(capsys, "restore", work / "m", "--sigma-y", "300", "--noise-scale", "255",
                          "-o", tmp_path / "r", "--prior", work / "tiny.safetensors")
    assert code == 2 and "intensity range" in errors[0]


def test_a_non_finite_restoration_is_never_written_or_counted_ok(work, capsys, tmp_path):
    out = tmp_path / "r"
    code, errors, _ = run(capsys, "restore", work / "m", "-o", out, "--prior", work / "nan.safetensors",
                          "--steps", "2", "--reference", work / "clean")
    assert code == 1 and len(errors) == 3 and all("not finite" in e for e in errors), errors
    assert not list(out.glob("*.png"))
    assert {r["status"] for r in rows(out / "summary.csv")} == {"failed"}


def test_all_constant_restorations_are_failures():
    from restora.cli.outputs import restoration_problem

    y = torch.rand(1, 3, 8, 8)
    assert "constant" in restoration_problem(torch.zeros(1, 3, 32, 32), y)
    assert "constant" in restoration_problem(torch.rand(1, 3, 32, 32) + 2, y)  # all white once clipped
    assert "not finite" in restoration_problem(torch.full((1, 3, 32, 32), float("nan")), y)
    assert restoration_problem(torch.rand(1, 3, 32, 32), y) is None
    assert restoration_problem(torch.zeros(1, 3, 32, 32),
                               torch.zeros(1, 3, 8, 8)) is None  # flat in, flat out


# 3. memory: a call that does not fit is tiled automatically (or refused at once)


def test_a_call_too_large_for_the_memory_is_tiled_with_progress(work, capsys, tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(big)
    # fp32: the default runtime is bf16 on CPUs with bf16 instructions, which halves the memory needed
    code, errors, err = run(capsys, "restore", big, "--task", "denoise", "--sigma-y", "0.1",
                            "-o", tmp_path / "r", "--prior", work / "tiny.safetensors", "--steps", "2",
                            "--max-memory", "64M", "--dtype", "fp32")
    assert code == 0, err
    assert "tiles of" in err, err
    assert Image.open(tmp_path / "r" / "big.png").size == (256, 256)
    code, errors, _ = run(capsys, "restore", big, "--task", "denoise", "--sigma-y", "0.1",
                          "-o", tmp_path / "r2", "--prior", work / "tiny.safetensors", "--steps", "2",
                          "--max-memory", "10K")
    assert code == 2 and "--max-memory" in errors[0] and "--tile" in errors[0], errors


# 4. progress in logs when stderr is not a terminal


def test_progress_lines_when_stderr_is_not_a_terminal(work):
    env = {**ENV, "RESTORA_PROGRESS_SECONDS": "0"}
    proc = cli("restore", "m", "-o", "r_progress", "--prior", "tiny.safetensors", "--steps", "3", cwd=work,
               env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("restora: progress")]
    assert lines and "NFE/s" in lines[-1] and "ETA" in lines[0] and "3/3 images" in lines[-1], proc.stderr


# 5. every bad option value is a one-line usage error


@pytest.mark.parametrize("args", [
    ["--task", "jpeg", "--task-opt", "quality=abc"],
    ["--task", "deblur-gauss", "--task-opt", "std=wide"],
    ["--task", "inpaint-box", "--task-opt", "center=3"],
    ["--task", "sr4", "--opt", "lam=abc"],
    ["--task", "sr4", "--solver", "dpir", "--opt", "sigma_end=abc"],
])
def test_bad_option_values_exit_2(work, capsys, args, tmp_path):
    code, errors, err = run(capsys, "restore", work / "clean", "-o", tmp_path / "r",
                            "--prior", work / "tiny.safetensors", *args)
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err


# 6. checks that depend on options alone run before the model is loaded


@pytest.mark.parametrize(("args", "needle"), [
    (["--task", "sr4", "--tile", "64", "--tile-overlap", "64"], "--tile-overlap"),
    (["--task", "cs"], "sidecar"),
])
def test_option_checks_come_before_loading_the_model(work, capsys, args, needle, tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORA_WEIGHTS", str(tmp_path / "no-weights-here"))
    code, errors, _ = run(capsys, "restore", work / "clean", "-o", tmp_path / "r", "--prior", "adm-ffhq256",
                          *args)
    assert code == 2 and needle in errors[0], errors  # not 'no weights file': it was never loaded


def test_an_unknown_prior_is_refused_before_any_input_is_read(work, capsys, tmp_path):
    code, errors, _ = run(capsys, "restore", work / "clean", "-o", tmp_path / "r",
                          "--prior", tmp_path / "missing.safetensors", "--task", "cs")
    assert code == 2 and "unknown prior" in errors[0] and not (tmp_path / "r").exists(), errors


# 7. resume counts only complete outputs and scores what it skips


def test_resume_redoes_broken_outputs_and_scores_skipped_ones(work, capsys, tmp_path):
    out = tmp_path / "r"
    args = ["restore", work / "m", "-o", out, "--prior", work / "tiny.safetensors", "--steps", "2",
            "--reference", work / "clean"]
    assert run(capsys, *args)[0] == 0
    (out / "summary.csv").unlink()  # a crash before the summary was written
    (out / "c1.png").write_bytes(b"")
    (out / "c2.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code, _, err = run(capsys, *args, "--resume")
    assert code == 0, err
    table = {Path(r["file"]).stem: r for r in rows(out / "summary.csv")}
    assert table["c0"]["status"] == "skipped" and float(table["c0"]["psnr"]) > 0
    assert table["c1"]["status"] == table["c2"]["status"] == "ok"
    for name in ("c1", "c2"):
        assert Image.open(out / f"{name}.png").size == (32, 32)


# 8. leftovers and stray messages


def test_failed_pre_checks_leave_no_output_folder(work, capsys, tmp_path):
    out = tmp_path / "never"
    code, _, _ = run(capsys, "restore", work / "clean", "-o", out)  # no --task and no sidecars
    assert code == 2 and not out.exists()
    code, _, _ = run(capsys, "restore", work / "clean", "--task", "sr5", "-o", out)
    assert code == 2 and not out.exists()
    code, _, _ = run(capsys, "degrade", work / "clean", "--task", "jpeg", "--task-opt", "quality=0", "-o",
                     out)
    assert code == 2 and not out.exists()


def test_eval_to_an_unwritable_path_is_one_usage_line(work, capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    code, errors, err = run(capsys, "eval", work / "clean", work / "clean", "-o", tmp_path / "afile" / "s.md")
    assert code == 2 and len(errors) == 1 and "Errno" not in errors[0] and "Traceback" not in err


def test_a_refused_pickle_prints_no_torch_warning(work, tmp_path):
    import pickle

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"w": object()}))
    proc = cli("restore", work / "clean", "--task", "sr4", "--prior", tmp_path / "evil.pt", "-o",
               tmp_path / "r",
               cwd=work)
    assert proc.returncode == 2 and "refusing to load" in proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr


def test_the_opt_error_lists_the_values_the_run_would_use(work, capsys, tmp_path):
    code, errors, _ = run(capsys, "restore", work / "clean", "--task", "deblur-gauss", "-o", tmp_path / "r",
                          "--prior", "default", "--opt", "nope=1")
    assert code == 2 and "lam (4.0)" in errors[0], errors  # the bundled prior's tuned lam for deblurring


# 9. unconditional sampling is its own command; restore lists restoration solvers only


def test_sample_command_and_ddim_not_offered_by_restore(work, capsys, tmp_path):
    code, _, err = run(capsys, "sample", "--prior", work / "tiny.safetensors", "--steps", "2", "-n", "2",
                       "--size", "32", "-o", tmp_path / "s")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "s").glob("*.png")) == ["sample0000.png", "sample0001.png"]
    code, errors, _ = run(capsys, "restore", work / "clean", "--task", "sr4", "--solver", "nope",
                          "-o", tmp_path / "r")
    assert code == 2 and "ddim" not in errors[0]
    assert main(["restore", "--help"]) == 0
    assert "  ddim" not in capsys.readouterr().out


# 10. Poisson and Poisson-Gaussian noise on the command line


def test_poisson_noise_on_the_command_line(work, capsys, tmp_path):
    d = tmp_path / "d"
    assert main(["degrade", str(work / "clean"), "--task", "denoise", "--noise", "poisson-gaussian",
                 "--poisson-rate", "30", "--sigma-y", "0.02", "-o", str(d), "--save-tensor", "-q"]) == 0
    side = json.loads((d / "c0.json").read_text())
    assert side["noise"] == {"model": "poisson-gaussian", "rate": 30.0, "sigma": pytest.approx(0.02)}
    assert 0.1 < side["sigma_y"] < 0.6  # the Gaussian equivalent that solvers use ([-1, 1] scale)
    code, _, err = run(capsys, "restore", d, "-o", tmp_path / "r", "--prior", work / "tiny.safetensors",
                       "--steps", "2")
    assert code == 0, err
    code, errors, _ = run(capsys, "degrade", work / "clean", "--task", "denoise", "--noise", "poisson",
                          "-o", tmp_path / "e")
    assert code == 2 and "--poisson-rate" in errors[0]


# 11. the default thread count follows the load


def test_default_threads_leave_busy_cores_alone(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    assert default_threads() == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (1.9, 0.0, 0.0))
    assert default_threads() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (7.0, 0.0, 0.0))
    assert default_threads() == 1
