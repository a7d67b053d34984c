"""Training: exact resume, export, validation numbers, and 2-process DDP with gloo."""

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restora.cli.train import main
from restora.priors.loaders import load_restora_prior, read_metadata
from restora.train import (
    TrainConfig,
    build_model,
    export,
    lr_at,
    sample_sigmas,
    split_paths,
    train,
    validate,
)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:72, 0:80]
    for i in range(6):
        base = np.stack([np.sin(xx / (5 + i)), np.cos(yy / (4 + i)), np.sin((xx + yy) / 9)], -1)
        img = (base * 0.4 + 0.5 + rng.normal(0, 0.02, base.shape)).clip(0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"img_{i}.png")
    return folder


def tiny_cfg(folder, out, steps):
    return TrainConfig(data=[str(folder)], out=str(out), model="tiny", steps=steps, batch_size=2,
                       crop=32, warmup=2, ckpt_every=3, val_every=3, log_every=1, holdout_every=3,
                       val_crop=64, threads=1)


def state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_resume_is_exact(image_folder, tmp_path):
    """Stopping at step 4 (``stop_at``: past the warm-up, so the LR schedule matters) and resuming
    gives bit-identical weights to an uninterrupted run."""
    straight = train(tiny_cfg(image_folder, tmp_path / "a", 6), progress=False)
    stopped = train(replace(tiny_cfg(image_folder, tmp_path / "b", 6), stop_at=4), progress=False)
    assert state(stopped)["step"] == 4
    resumed = train(tiny_cfg(image_folder, tmp_path / "b", 6), resume=True, progress=False)
    a, b = state(straight), state(resumed)
    assert a["step"] == b["step"] == 6
    for key in ("model", "ema"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
    log = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,loss,lr,images_per_s") and len(log) == 7
    val = (tmp_path / "b" / "val.csv").read_text().splitlines()
    assert val[0] == "step,psnr15,psnr25,psnr50" and [r.split(",")[0] for r in val[1:]] == ["3", "4", "6"]


def test_export_loads_the_ema_weights(image_folder, tmp_path):
    ckpt = train(tiny_cfg(image_folder, tmp_path / "run", 3), progress=False)
    out = export(ckpt, tmp_path / "prior.safetensors")
    prior = load_restora_prior(out)
    ref = build_model(tiny_cfg(image_folder, tmp_path, 3))
    ref.load_state_dict(state(ckpt)["ema"])
    x = torch.randn(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.equal(prior(x, 0.7), ref(x, 0.7))


def test_export_stores_the_tuned_solver_settings(image_folder, tmp_path):
    ckpt = train(tiny_cfg(image_folder, tmp_path / "run", 1), progress=False)
    tuned = {"diffpir": {"sr": {"lam": 4.0, "zeta": 1.0}}, "_tuning": {"images": 3}}
    (tmp_path / "settings.json").write_text(json.dumps(tuned))
    saved = export(ckpt, tmp_path / "p.safetensors", solver_settings=tmp_path / "settings.json")
    prior = load_restora_prior(saved)
    assert prior.solver_settings == {"diffpir": {"sr": {"lam": 4.0, "zeta": 1.0}}}
    assert load_restora_prior(export(ckpt, tmp_path / "q.safetensors")).solver_settings == {}


def test_reexport_of_a_prior_keeps_its_weights_and_replaces_its_settings(image_folder, tmp_path):
    ckpt = train(tiny_cfg(image_folder, tmp_path / "run", 2), progress=False)
    first = export(ckpt, tmp_path / "p.safetensors")
    (tmp_path / "settings.json").write_text(json.dumps({"diffpir": {"deblur": {"zeta": 0.9}}}))
    again = export(first, tmp_path / "q.safetensors", solver_settings=tmp_path / "settings.json")
    a, b = load_restora_prior(first), load_restora_prior(again)
    assert b.solver_settings == {"diffpir": {"deblur": {"zeta": 0.9}}}
    assert read_metadata(again)["train_steps"] == "2"
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name


def test_validation_psnr_of_the_noisy_input_is_the_noise_psnr():
    """A 'denoiser' that returns its input scores 20 log10(255 / s) dB (up to clamping gains)."""

    class Passthrough(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, sigma):
            return x

    images = torch.rand(3, 3, 64, 64) * 1.2 - 0.6  # away from the clamp bounds
    scores = validate(Passthrough(), images)
    for s in (15, 25, 50):
        expected = 20 * math.log10(255 / s)
        assert expected - 0.1 < scores[f"psnr{s}"] < expected + 0.6


def test_noise_level_sampling_and_lr_schedule():
    cfg = TrainConfig(p_uniform=0.5, steps=1000, warmup=100)
    sig = sample_sigmas(20000, cfg, torch.Generator().manual_seed(0))
    assert float(sig.min()) >= cfg.sigma_min and float(sig.max()) <= cfg.sigma_max
    assert float((sig > 50).float().mean()) > 0.02  # the log-uniform share reaches the top
    assert lr_at(0, cfg) == pytest.approx(cfg.lr / 100)
    assert lr_at(100, cfg) == pytest.approx(cfg.lr)
    assert lr_at(1000, cfg) == pytest.approx(cfg.lr * cfg.min_lr_ratio)


def test_split_is_deterministic_and_disjoint(image_folder):
    tr, va = split_paths([str(image_folder)], 3)
    assert len(va) == 2 and not set(tr) & set(va) and len(tr) + len(va) == 6
    assert split_paths([str(image_folder)], 3) == (tr, va)


def test_cli_refuses_resume_with_a_different_model(image_folder, tmp_path):
    args = ["--data", str(image_folder), "--out", str(tmp_path), "--model", "tiny", "--steps", "1",
            "--batch-size", "1", "--crop", "32", "--val-crop", "64", "--no-progress", "--threads", "1"]
    assert main(args) == 0
    with pytest.raises(ValueError, match="different model"):
        main([*args[:5], "small", *args[6:], "--resume"])


def test_ddp_two_processes_gloo(image_folder, tmp_path):
    """torchrun with 2 CPU processes: trains, rank 0 checkpoints both ranks' data generators."""
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "restora", "train",
           "--data", str(image_folder), "--out", str(tmp_path / "ddp"), "--model", "tiny",
           "--steps", "4", "--batch-size", "2", "--crop", "32", "--ckpt-every", "2",
           "--val-every", "4", "--val-crop", "64", "--holdout-every", "3", "--no-progress",
           "--threads", "1"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = state(tmp_path / "ddp" / "checkpoint.pt")
    assert ckpt["step"] == 4
    gens = ckpt["generators"]
    assert len(gens) == 2 and not torch.equal(gens[0], gens[1])
    assert (tmp_path / "ddp" / "val.csv").exists()


def test_a_time_budget_plans_the_steps_so_the_schedule_anneals(image_folder, tmp_path):
    """With time_budget the run measures its speed over its first steps, re-plans ``steps`` to fill the
    budget and ends with the learning rate fully decayed; the checkpoint records the planned steps."""
    from restora.train import TimeBudget

    cfg = replace(tiny_cfg(image_folder, tmp_path / "run", steps=10**6), time_budget=4.0, ckpt_every=10**6,
                  val_every=10**6, log_every=10**6)
    state = torch.load(train(cfg, progress=False), map_location="cpu", weights_only=True)
    planned = json.loads(state["config"])["steps"]
    assert planned == state["step"] > TimeBudget.SKIP + TimeBudget.MEASURE
    final_lr = lr_at(planned - 1, replace(cfg, steps=planned))
    assert final_lr == pytest.approx(cfg.lr * cfg.min_lr_ratio, rel=0.05)


def test_the_gpu_training_script_runs_tiny_on_cpu_and_its_check_refuses_worse_weights(image_folder, tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "train_gpu.py"

    def run(*args: str) -> int:
        return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True).returncode

    out = tmp_path / "gpu"
    assert run("train", "--out", str(out), "--tiny", "--minutes", "0.05", "--data", str(image_folder),
               "--holdout-every", "3", "--no-progress") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["steps"] > 0 and set(report["validation"]) == {"psnr15", "psnr25", "psnr50"}
    assert report["config"]["model"] == "tiny" and not report["config"]["compile"]  # no CUDA here
    # a few seconds of a tiny model are not better than the shipped prior: the check says so
    assert run("check", str(out / "prior.safetensors"), "--data", str(image_folder), "--holdout-every", "3",
               "--val-crop", "64") == 1
