"""Train a restora prior by denoising score matching over continuous noise levels (EDM).

Single process on CPU/GPU, or multi-process / multi-node under ``torchrun`` with
DistributedDataParallel. Checkpoints carry model, EMA, optimizer, step and RNG state and are
written atomically, so an interrupted run resumes exactly with ``--resume``.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor
from tqdm import tqdm

from restora.errors import RestoraError
from restora.priors.base import EDMPrior, fast_runtime
from restora.priors.loaders import load_restora_prior, read_metadata, save_restora_prior
from restora.priors.unet import MODEL_SIZES, UNetConfig, build_restora_prior
from restora.train.data import ImageBank, KernelBank, kernel_validation_set, split_paths, validation_set

VAL_SIGMAS_255 = (15, 25, 50)
KERNEL_DATA = "blur kernels"  # how a kernel prior's weights begin their train_data metadata


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in every checkpoint)."""

    data: list[str] = field(default_factory=list)
    out: str = "runs/prior"
    model: str = "small"
    steps: int = 20000
    stop_at: int = 0  # stop after this step (0: at ``steps``); the LR schedule still follows ``steps``
    batch_size: int = 8
    crop: int = 128
    lr: float = 2e-4
    warmup: int = 500
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    p_mean: float = -1.2
    p_std: float = 1.2
    p_uniform: float = 0.2
    sigma_min: float = 0.002
    sigma_max: float = 160.0
    sigma_data: float = 0.5
    holdout_every: int = 10
    val_crop: int = 256
    val_every: int = 1000
    ckpt_every: int = 500
    log_every: int = 50
    seed: int = 0
    amp: bool = True  # bf16 autocast where the device computes bf16 fast (detected, never assumed)
    channels_last: bool = False
    threads: int = 0
    init_from: str = ""  # a restora prior (.safetensors) to continue from: its weights and step count
    rewarm: int = 200  # with init_from: warm-up steps of the fresh optimizer
    compile: bool = False  # torch.compile the training forward (pays on GPUs)
    time_budget: float = 0.0  # seconds of training; > 0: ``steps`` re-planned from the first steps' speed
    kernels: int = 0  # > 0: a kernel prior over kernels x kernels blur kernels drawn on the fly (no --data)

    def problem(self) -> str | None:
        """What makes this configuration unusable (one sentence naming the option), else None."""
        positive_ints = ("steps", "batch_size", "crop", "val_crop", "val_every", "ckpt_every", "log_every",
                         "holdout_every")
        for key in positive_ints:
            if getattr(self, key) < 1:
                note = " (1: no validation split)" if key == "holdout_every" else ""
                return f"--{key.replace('_', '-')} must be >= 1{note}, got {getattr(self, key)}"
        for key in ("stop_at", "warmup", "rewarm", "threads", "seed"):
            if getattr(self, key) < 0:
                return f"--{key.replace('_', '-')} must be >= 0, got {getattr(self, key)}"
        if self.kernels and (self.kernels < 3 or self.kernels % 2 == 0):
            return f"--kernels must be an odd kernel side >= 3 (0: train on images), got {self.kernels}"
        if self.seed * 1000 + 1000 > 2**63:  # each rank draws its data from seed * 1000 + rank
            return f"--seed must be below 2^63 / 1000 (rank r draws from seed * 1000 + r), got {self.seed}"
        finite = ("lr", "min_lr_ratio", "weight_decay", "grad_clip", "ema_decay", "p_mean", "p_std",
                  "p_uniform", "sigma_min", "sigma_max", "sigma_data", "time_budget")
        for key in finite:
            if not math.isfinite(getattr(self, key)):
                return f"--{key.replace('_', '-')} must be a finite number, got {getattr(self, key)}"
        checks = (("lr", self.lr > 0, "> 0"), ("grad_clip", self.grad_clip > 0, "> 0"),
                  ("min_lr_ratio", 0 <= self.min_lr_ratio <= 1, "in [0, 1]"),
                  ("ema_decay", 0 <= self.ema_decay < 1, "in [0, 1)"),
                  ("p_uniform", 0 <= self.p_uniform <= 1, "in [0, 1]"), ("p_std", self.p_std > 0, "> 0"),
                  ("weight_decay", self.weight_decay >= 0, ">= 0"),
                  ("sigma_data", self.sigma_data > 0, "> 0"),
                  ("sigma_min", 0 < self.sigma_min < self.sigma_max, "> 0 and below --sigma-max"),
                  ("time_budget", self.time_budget >= 0, ">= 0"))
        for key, ok, rule in checks:
            if not ok:
                return f"--{key.replace('_', '-')} must be {rule}, got {getattr(self, key)}"
        if self.model not in MODEL_SIZES and not self.init_from:
            try:
                UNetConfig(**json.loads(self.model))
            except (ValueError, TypeError, RestoraError) as exc:
                return (f"--model must be one of {', '.join(MODEL_SIZES)} or a UNet config as JSON, got "
                        f"{self.model[:80]!r} ({str(exc).splitlines()[0][:120]})")
        return None


# ----------------------------------------------------------------------------- training pieces


def sample_sigmas(n: int, cfg: TrainConfig, gen: torch.Generator) -> Tensor:
    """EDM log-normal noise levels, a fraction ``p_uniform`` log-uniform over the whole range
    so that the high sigmas samplers start from are trained too."""
    normal = torch.randn(n, generator=gen) * cfg.p_std + cfg.p_mean
    lo, hi = math.log(cfg.sigma_min), math.log(cfg.sigma_max)
    uniform = torch.rand(n, generator=gen) * (hi - lo) + lo
    pick = torch.rand(n, generator=gen) < cfg.p_uniform
    return torch.where(pick, uniform, normal).exp().clamp(cfg.sigma_min, cfg.sigma_max)


def edm_loss(model: torch.nn.Module, x0: Tensor, sigma: Tensor, noise: Tensor, sigma_data: float) -> Tensor:
    """EDM's weighted denoising loss, lambda(sigma) = (sigma^2 + sd^2) / (sigma * sd)^2."""
    s = sigma.view(-1, 1, 1, 1)
    weight = (s**2 + sigma_data**2) / (s * sigma_data) ** 2
    denoised = model(x0 + s * noise, sigma)
    return (weight * (denoised - x0) ** 2).mean()


def lr_at(step: int, cfg: TrainConfig, first_step: int = 0) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``cfg.steps``. A run continued
    from weights at ``first_step`` > 0 keeps that schedule and ramps up over ``cfg.rewarm`` steps (its
    optimizer starts without moment estimates)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    lr = cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
    if first_step > 0 and step < first_step + cfg.rewarm:
        lr *= (step - first_step + 1) / cfg.rewarm
    return lr


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, step: int, decay: float) -> None:
    """EMA with the usual warm-up, decay_t = min(decay, (1 + t) / (10 + t))."""
    d = min(decay, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(pm.detach(), 1 - d)


@torch.no_grad()
def validate(prior: EDMPrior, images: Tensor, seed: int = 1234) -> dict[str, float]:
    """Denoising PSNR (dB, [0,1] scale) at sigma 15/25/50 of 255 with fixed noise."""
    gen = torch.Generator().manual_seed(seed)
    device = next(prior.parameters()).device
    result = {}
    for s255 in VAL_SIGMAS_255:
        sigma = 2 * s255 / 255
        psnrs = []
        for img in images:
            x0 = img[None]
            noisy = x0 + sigma * torch.randn(x0.shape, generator=gen)
            den = prior(noisy.to(device), sigma).cpu().clamp(-1, 1)
            mse = ((den - x0) / 2).pow(2).mean()
            psnrs.append(float(-10 * torch.log10(mse)))
        result[f"psnr{s255}"] = sum(psnrs) / len(psnrs)
    return result


def atomic_save(obj: dict, path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


# ----------------------------------------------------------------------------- the loop


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) from torchrun's environment; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    rank = dist.get_rank() if world > 1 else 0
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def build_model(cfg: TrainConfig) -> EDMPrior:
    """The prior named by ``cfg.model`` (a size name or UNetConfig JSON), initialised from ``cfg.seed``;
    one input channel for a kernel prior."""
    if cfg.model in MODEL_SIZES:
        unet = copy.deepcopy(MODEL_SIZES[cfg.model])
    else:
        unet = UNetConfig(**json.loads(cfg.model))
    if cfg.kernels:
        unet = replace(unet, in_channels=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return build_restora_prior(unet, cfg.sigma_data, cfg.sigma_min, cfg.sigma_max)


def weights_compute(path: str | Path) -> dict[str, float]:
    """The training compute a restora prior file records (``train_compute`` metadata: wall / CPU seconds
    of all the steps that made it; empty for older files)."""
    compute = json.loads(read_metadata(path).get("train_compute", "{}"))
    return {k: float(v) for k, v in compute.items()}


def weights_start(path: str | Path) -> tuple[EDMPrior, int, dict[str, float]]:
    """(prior, step, compute) of a restora prior file to continue training from: the step count and
    the compute it records (``train_steps`` metadata and :func:`weights_compute`)."""
    prior = load_restora_prior(path)
    return prior, int(read_metadata(path).get("train_steps", 0)), weights_compute(path)


def with_weights_architecture(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the architecture and noise range of ``cfg.init_from`` (when set): the run
    continues that network, whatever ``--model`` says."""
    if not cfg.init_from:
        return cfg
    meta = read_metadata(cfg.init_from)
    if "unet" not in meta:
        raise RestoraError(f"--init-from {cfg.init_from}: not a restora prior file (no UNet config in it)")
    of_kernels = meta.get("train_data", "").startswith(KERNEL_DATA)
    if of_kernels != bool(cfg.kernels):
        what, run = ("a kernel prior", "an image run (--data)") if of_kernels else \
            ("an image prior", "a kernel run (--kernels)")
        raise RestoraError(f"--init-from {cfg.init_from} is {what}: it cannot start {run}; continue a prior "
                           "of the same kind, or start from scratch with --model")
    return replace(cfg, model=json.dumps(json.loads(meta["unet"]), sort_keys=True),
                   sigma_data=float(meta["sigma_data"]), sigma_min=float(meta["sigma_min"]),
                   sigma_max=float(meta["sigma_max"]))


def train_runtime(device: torch.device, cfg: TrainConfig) -> tuple[bool, bool]:
    """(bf16 autocast, channels_last) for training on ``device``: bf16 only where the hardware computes it
    fast (:func:`restora.priors.base.fast_runtime` detects it; on a CPU without bf16 instructions
    autocast would only slow training down)."""
    fast_dtype, _ = fast_runtime(device)
    return cfg.amp and fast_dtype == "bf16", cfg.channels_last


@dataclass
class Run:
    """The state of a training run in this process: the model and its EMA, the optimiser, the step count
    (``first_step``: where a run continued from weights began), the data generator and the compute so far."""

    prior: EDMPrior
    ema: EDMPrior
    opt: torch.optim.Optimizer
    gen: torch.Generator
    device: torch.device
    rank: int
    world: int
    bf16: bool = False  # autocast (where the device computes bf16 fast) and memory layout of the steps
    channels_last: bool = False
    step: int = 0
    first_step: int = 0
    resumed: bool = False
    compute: dict[str, float] = field(default_factory=lambda: {"wall_seconds": 0.0, "cpu_seconds": 0.0})


def start_run(cfg: TrainConfig, resume: bool) -> Run:
    """A new run (random weights, or ``cfg.init_from``'s) or, with ``resume``, the one in ``cfg.out``; rank 0
    writes the config of a new run. Loads weights, optimiser, step, compute and every rank's generator."""
    rank, world, device = setup_distributed()
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.pt"
    prior = build_model(cfg)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    state = torch.load(ckpt_path, map_location="cpu", weights_only=True) if (
        resume and ckpt_path.exists()) else None
    step, compute = 0, {"wall_seconds": 0.0, "cpu_seconds": 0.0}
    if state is None and cfg.init_from:
        start, step, earlier = weights_start(cfg.init_from)
        prior.load_state_dict(start.state_dict())
        compute.update(earlier)
    prior = prior.to(device)
    bf16, channels_last = train_runtime(device, cfg)
    if channels_last:
        prior = prior.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(prior).eval().requires_grad_(False)
    opt = torch.optim.AdamW(prior.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    run = Run(prior, ema, opt, gen, device, rank, world, bf16, channels_last, step=step, first_step=step,
              compute=compute)
    if state is not None:
        prior.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        run.step, run.first_step, run.resumed = int(state["step"]), int(state.get("first_step", 0)), True
        compute.update(state.get("compute", {}))
        if rank < len(state["generators"]):
            gen.set_state(state["generators"][rank])
    elif rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    if world > 1:
        dist.barrier()
    return run


def train_step(run: Run, forward: torch.nn.Module, bank: ImageBank | KernelBank, cfg: TrainConfig) -> float:
    """One optimisation step (learning rate of the schedule, a batch of crops, EDM loss, clipped AdamW step,
    EMA), counted into the run's compute; returns the loss."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for group in run.opt.param_groups:
        group["lr"] = lr_at(run.step, cfg, run.first_step)
    x0 = bank.sample(cfg.batch_size, run.gen).to(run.device)
    sigma = sample_sigmas(cfg.batch_size, cfg, run.gen).to(run.device)
    noise = torch.randn(x0.shape, generator=run.gen).to(run.device)
    if run.channels_last:
        x0, noise = (t.contiguous(memory_format=torch.channels_last) for t in (x0, noise))
    with torch.autocast(device_type=run.device.type, dtype=torch.bfloat16, enabled=run.bf16):
        loss = edm_loss(forward, x0, sigma, noise, cfg.sigma_data)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.prior.parameters(), cfg.grad_clip)
    run.opt.step()
    update_ema(run.ema, run.prior, run.step, cfg.ema_decay)
    run.step += 1
    run.compute["wall_seconds"] += (time.perf_counter() - wall0) * run.world
    run.compute["cpu_seconds"] += (time.process_time() - cpu0) * run.world
    return float(loss.detach())


class TrainLog:
    """The records of a run as it goes (rank 0): OUT/log.csv every ``log_every`` steps (mean loss, learning
    rate, images per second, compute), OUT/val.csv every ``val_every`` steps, and the progress bar."""

    def __init__(self, run: Run, cfg: TrainConfig, total: int, progress: bool) -> None:
        self.out, self.run = Path(cfg.out), run
        self.bar = tqdm(total=total, initial=run.step, disable=not progress or run.rank != 0, desc="train",
                        dynamic_ncols=True)
        self.t_last, self.seen, self.losses = time.perf_counter(), 0, []

    def step(self, loss: float, cfg: TrainConfig, last: int, val_images: Tensor | None) -> None:
        run = self.run
        self.seen += cfg.batch_size * run.world
        self.losses.append(loss)
        self.bar.update(1)
        if run.rank == 0 and (run.step % cfg.log_every == 0 or run.step == last):
            now = time.perf_counter()
            ips, mean = self.seen / (now - self.t_last), sum(self.losses) / len(self.losses)
            append_csv(self.out / "log.csv", {"step": run.step, "loss": mean,
                                              "lr": run.opt.param_groups[0]["lr"], "images_per_s": ips,
                                              "time": time.time(), **run.compute})
            self.bar.set_postfix(loss=f"{mean:.4f}", img_s=f"{ips:.1f}")
            self.t_last, self.seen, self.losses = now, 0, []
        if run.step % cfg.ckpt_every == 0 or run.step == last:
            save_checkpoint(self.out / "checkpoint.pt", run.prior, run.ema, run.opt, run.step, run.gen, cfg,
                            run.world, run.rank, first_step=run.first_step, compute=run.compute)
        if run.rank == 0 and val_images is not None and (run.step % cfg.val_every == 0 or run.step == last):
            metrics = validate(run.ema, val_images)
            append_csv(self.out / "val.csv", {"step": run.step, **metrics})
            self.bar.write(f"step {run.step}: " + ", ".join(f"{k} {v:.2f} dB" for k, v in metrics.items()))


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Run (or resume) training; returns the path of the last checkpoint.

    ``cfg.init_from`` starts from a shipped prior instead of random weights: model and EMA are its
    weights, the step count and learning-rate schedule continue from its ``train_steps``, and a fresh
    optimizer warms up over ``cfg.rewarm`` steps. Compute (wall and CPU seconds of the training steps)
    accumulates in the checkpoint and, through :func:`export`, in the weights file."""
    cfg = with_weights_architecture(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = start_run(cfg, resume)
    bank, val_images = training_data(cfg, run)
    model = run.prior
    if run.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            run.prior, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    forward = torch.compile(model) if cfg.compile else model
    last = min(cfg.steps, cfg.stop_at) if cfg.stop_at > 0 else cfg.steps
    log = TrainLog(run, cfg, last, progress)
    budget = TimeBudget(cfg.time_budget, run.step) if cfg.time_budget > 0 and not run.resumed else None
    while run.step < last:
        if budget is not None and (planned := budget.plan(run.step)) is not None:
            cfg = replace(cfg, steps=planned)
            last = min(cfg.steps, cfg.stop_at) if cfg.stop_at > 0 else cfg.steps
            log.bar.total = last
        loss = train_step(run, forward, bank, cfg)
        log.step(loss, cfg, last, val_images)
    log.bar.close()
    if run.world > 1:
        dist.barrier()
    return Path(cfg.out) / "checkpoint.pt"


def training_data(cfg: TrainConfig, run: Run) -> tuple[ImageBank | KernelBank, Tensor | None]:
    """(what the run draws its batches from, the validation images rank 0 reports on): photo crops of
    ``cfg.data`` and their held-out split, or with ``cfg.kernels`` random kernels and a fixed-seed set of
    them (a resumed kernel run draws a fresh pool from its restored generator)."""
    if cfg.kernels:
        return KernelBank(cfg.kernels, run.gen), kernel_validation_set(cfg.kernels) if run.rank == 0 else None
    train_paths, val_paths = split_paths(cfg.data, cfg.holdout_every)
    val = validation_set(val_paths, cfg.val_crop) if run.rank == 0 else None
    return ImageBank(train_paths, cfg.crop), val


class TimeBudget:
    """Plans the number of steps of a run that must finish in ``seconds``: after the first steps (a
    compiled model's first steps are slow), from their measured speed, so that the cosine learning-rate
    schedule anneals fully when the time is spent."""

    SKIP, MEASURE = 5, 20  # steps ignored (compilation, warm caches), then steps timed

    def __init__(self, seconds: float, start_step: int) -> None:
        self.seconds, self.start_step = seconds, start_step
        self.t0 = time.perf_counter()
        self.t_skip: float | None = None

    def plan(self, step: int) -> int | None:
        """The planned last step, once, when the speed is known; None before and after."""
        done = step - self.start_step
        if done == self.SKIP:
            self.t_skip = time.perf_counter()
        if done != self.SKIP + self.MEASURE or self.t_skip is None:
            return None
        now = time.perf_counter()
        rate = self.MEASURE / (now - self.t_skip)
        return step + max(1, int(rate * (self.seconds - (now - self.t0))))


def save_checkpoint(path: Path, prior: EDMPrior, ema: EDMPrior, opt: torch.optim.Optimizer,
                    step: int, gen: torch.Generator, cfg: TrainConfig, world: int, rank: int, *,
                    first_step: int = 0, compute: dict[str, float] | None = None) -> None:
    """Rank 0 writes everything needed to resume, including every rank's data generator."""
    states = [gen.get_state()]
    if world > 1:
        gathered = [torch.empty_like(states[0]) for _ in range(world)]
        dist.all_gather(gathered, states[0])
        states = gathered
    if rank == 0:
        atomic_save({"model": prior.state_dict(), "ema": ema.state_dict(),
                     "optimizer": opt.state_dict(), "step": step, "generators": states,
                     "first_step": first_step, "compute": dict(compute or {}),
                     "config": json.dumps(asdict(cfg))}, path)


def export(checkpoint: str | Path, out: str | Path, use_ema: bool = True, half: bool = False,
           solver_settings: str | Path | None = None) -> Path:
    """Write a checkpoint's (EMA) weights as a restora prior in .safetensors, with the solver settings
    tuned for it (a JSON file solver -> task family -> options, e.g. benchmarks/settings.json).

    ``checkpoint`` may also be an exported prior (.safetensors): its weights are written again with
    the new settings, so that settings tuned later need no training checkpoint."""
    if Path(checkpoint).suffix == ".safetensors":
        prior = load_restora_prior(checkpoint)
        extra = {k: v for k, v in read_metadata(checkpoint).items()
                 if k in ("train_steps", "train_compute", "train_data")}
    else:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        config = TrainConfig(**json.loads(state["config"]))
        prior = build_model(config)
        prior.load_state_dict(state["ema" if use_ema else "model"])
        extra = {"train_steps": str(state["step"])}
        if config.kernels:
            extra["train_data"] = f"{KERNEL_DATA} {config.kernels}x{config.kernels} (random_kernel)"
        if state.get("compute"):
            extra["train_compute"] = json.dumps(state["compute"])
    if solver_settings is not None:
        tuned = json.loads(Path(solver_settings).read_text())
        prior.solver_settings = {k: v for k, v in tuned.items() if not k.startswith("_")}
    save_restora_prior(prior, out, half=half, extra=extra)
    return Path(out)
