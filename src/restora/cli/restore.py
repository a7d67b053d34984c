"""``restora restore``: restore measurements (degraded images) with a solver and a diffusion prior.

The run is a pipeline of small steps: :func:`check_arguments` (everything the options alone decide) ->
:func:`make_plan` (inputs, their degradations and shapes, outputs, what is already done) -> load the
prior -> :func:`make_batches` -> :func:`solve_batch` (the pure restoration) -> :func:`write_batch` ->
:func:`summarise`. Only the solve touches the model; everything that can fail for a reason the user can
fix is found before it.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import restora
from restora import solvers
from restora.cli import outputs
from restora.cli.files import (
    check_no_overwrite,
    check_not_folder,
    check_output_dir,
    check_unique_stems,
    expand_inputs,
    write_json_atomic,
)
from restora.cli.log import LOG, UsageError, error, forward_warnings, set_rank
from restora.cli.options import AUTO, SIGMA_Y_MAX, check_sigma, check_solver_options
from restora.cli.progress import RunProgress, enabled
from restora.cli.runtime import Ranks, persistent_compile_cache, resolve_device, set_threads
from restora.cli.sidecar import Sidecar
from restora.cli.specs import (
    CliSpec,
    Spec,
    check_image_range,
    check_kernel,
    check_mask_file,
    describe_sigma,
    file_channels,
    peek_shape,
    probe_operator,
    read_measurement,
    resolve,
)
from restora.cli.warm import InitEstimates, check_init, warm_settings
from restora.errors import RestoraError
from restora.io import list_images
from restora.operators import Inpaint, Operator, tasks
from restora.pairs import parse_pairs
from restora.priors.base import Prior
from restora.priors.compiling import compile_pays, image_calls
from restora.priors.spec import PriorInfo, PriorSpec, load_spec
from restora.priors.spec import parse as parse_prior
from restora.priors.tiling import TiledPrior, TilePlan, available_bytes, plan_tiles, prior_bytes_per_pixel
from restora.priors.wrappers import TimedPrior, for_channels, synchronize


def catalogue(args: argparse.Namespace | None = None) -> str:
    """The tasks and solvers ``restora restore --help`` lists after its examples."""
    lines = ["", "tasks:"]
    lines += [f"  {name:<15} {tasks.info(name).summary}" for name in tasks.names()]
    lines += ["", "solvers:"]
    for name in solvers.names(restoration_only=True):
        meta = solvers.info(name)
        need = "inpainting only" if meta.masks_only else "SVD operators" if meta.needs_svd else \
            "linear operators" if meta.needs_linear else "any operator"
        lines.append(f"  {name:<8} {meta.summary} [{need}]")
    lines += ["", "unconditional samples from a prior: `restora sample`"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class RestoreRun:
    """What a ``restora restore`` run is asked to do, checked before any file is read or a model loaded;
    every later step reads this, never the parsed arguments."""

    solver: str
    steps: int | None  # --steps; None: the published (or tuned) steps of each task family
    options: dict[str, Any]  # --opt, checked against the solver's options
    init: str | Path | None  # --init: a named estimate or method, a file or a folder (None: cold start)
    samples: int
    seed: int
    cli: CliSpec  # --task / --mask / --kernel / --task-opt / --sigma-y
    sigma: float | None  # --sigma-y on the [-1, 1] scale
    estimate_sigma: bool  # --sigma-y auto: each measurement's noise level estimated from it
    noise_scale: str
    prior_text: str  # --prior as given (the record names it)
    prior: PriorSpec  # parsed once: its channels and stored solver settings are read without loading it
    dtype: str
    channels_last: bool | None
    compile: str  # --compile: auto (where it pays, restora.priors.compiling), on or off
    prior_split: float | None
    device: torch.device
    inputs: tuple[str, ...]
    out: Path
    reference: Path | None
    crop_border: int
    resume: bool
    batch_size: int
    tile: int | None
    tile_overlap: int
    max_memory: int | None
    save_tensor: bool
    grid: bool
    save_intermediate: bool
    no_progress: bool
    seen: set[str] = field(default_factory=set)  # the specs checked so far (a cache, not a setting)

    @cached_property
    def estimates(self) -> InitEstimates | None:
        """The --init estimates of the batches (None: cold starts)."""
        return None if self.init is None else InitEstimates(self.init, self.device)

    @cached_property
    def channels(self) -> int:
        """The prior's image channels (from its preset or file metadata)."""
        return self.prior.channels()

    @cached_property
    def tuned(self) -> dict[str, Any]:
        """The solver settings stored with the prior's weights."""
        return self.prior.solver_settings()

    def check_spec(self, spec: Spec, solver: str) -> None:
        """:func:`check_spec`, once per spec."""
        if spec_key(spec) not in self.seen:
            self.seen.add(check_spec(spec, solver))


def spec_key(spec: Spec) -> str:
    return json.dumps([spec.task, spec.options, spec.kernel, spec.sigma_y], sort_keys=True, default=str)


def check_spec(spec: Spec, solver: str) -> str:
    """Operator options and solver/operator compatibility, on a stand-in operator; returns the spec's key."""
    solvers.check_compatible(solver, probe_operator(spec)[0])
    return spec_key(spec)


def default_solver(task: str | None) -> str:
    """The solver ``restore`` runs without --solver: DiffPIR, or blind-pnp for a blind task."""
    return "blind-pnp" if task is not None and tasks.info(task).blind else "diffpir"


def check_arguments(args: argparse.Namespace) -> RestoreRun:
    """Every check that depends on the options alone (exit 2 before any work)."""
    args.solver = args.solver or default_solver(args.task)
    meta = solvers.info(args.solver)
    if not meta.measurement:
        raise RestoraError(f"{args.solver} samples without a measurement: use `restora sample`; restoration "
                           f"solvers are {', '.join(solvers.names(restoration_only=True))}")
    for flag, value in (("--tile", args.tile or 0), ("--tile-overlap", args.tile_overlap),
                        ("--crop-border", args.crop_border)):
        if value < 0:
            raise RestoraError(f"{flag} must be >= 0, got {value}")
    if args.tile and args.tile_overlap >= args.tile:
        raise RestoraError(f"--tile-overlap ({args.tile_overlap}) must be smaller than --tile ({args.tile})")
    if args.steps is not None and args.steps > MAX_STEPS:
        raise RestoraError(f"--steps {args.steps} is more than {MAX_STEPS} denoiser calls per draw (the "
                           "published methods run at most 1000): give fewer steps")
    if args.steps is not None and meta.stable_steps and args.steps < meta.stable_steps:
        LOG.warning(f"{args.solver} with --steps {args.steps}: below {meta.stable_steps} steps it is "
                    "unstable (outputs that leave the image range are failed, not written)")
    if args.samples > 1 and not meta.stochastic:
        LOG.warning(f"{args.solver} is deterministic: its --samples {args.samples} draws are all the same")
    given_sigma = args.sigma_y is not None and args.sigma_y != AUTO
    sigma = check_sigma(args.sigma_y, scale=args.noise_scale) if given_sigma else None
    cli = CliSpec(task=args.task, mask=args.mask, kernel=args.kernel, invert_mask=args.invert_mask,
                  task_options=parse_pairs(args.task_opt, "--task-opt"), sigma_y=sigma)
    check_kernel(args.kernel)
    check_mask_file(args.mask)
    family = TASK_FAMILY_FOR_MESSAGES if args.task is None else resolve(cli, None, Path("."), 0).family()
    given = args.task is not None or args.mask is not None
    seen = {check_spec(resolve(cli, None, Path("."), args.seed), args.solver)} if given else set()
    prior = parse_prior(args.prior, args.weights)  # after the task's checks, before the solver's options
    in_effect = options_in_effect(args.solver, solver_settings(args.solver, family, None, {},
                                                               prior.solver_settings())[1])
    options = check_solver_options(args.solver, parse_pairs(args.opt, "--opt"), in_effect)
    run = _run_of(args, cli, sigma, options, prior, seen)
    if run.init is not None:
        level = options.get("sigma_start", "as measured for the task family")
        LOG.info(f"warm start from {run.init} (sigma_start {level})")
    if run.reference is not None:
        if not run.reference.is_dir():
            raise RestoraError(f"--reference {args.reference}: no such folder")
        check_not_folder(run.out, run.reference, "the --reference folder")
    if sigma is not None:
        given = "" if args.noise_scale == "[-1,1]" else \
            f" (given as {args.sigma_y:g} on the {args.noise_scale} scale)"
        LOG.info(f"sigma_y = {describe_sigma(sigma)}{given}")
    return run


def _run_of(args: argparse.Namespace, cli: CliSpec, sigma: float | None, options: dict[str, Any],
            prior: PriorSpec, seen: set[str]) -> RestoreRun:
    return RestoreRun(
        solver=args.solver, steps=args.steps, options=options, init=check_init(args.init, args.solver),
        samples=args.samples, seed=args.seed, cli=cli,
        sigma=sigma, estimate_sigma=args.sigma_y == AUTO, noise_scale=args.noise_scale, prior_text=args.prior,
        prior=prior, dtype=args.dtype,
        channels_last=args.channels_last, compile=args.compile, prior_split=args.prior_split,
        device=resolve_device(args.device), inputs=tuple(args.inputs), out=check_output_dir(args.out),
        reference=Path(args.reference) if args.reference is not None else None, crop_border=args.crop_border,
        resume=args.resume, batch_size=args.batch_size, tile=args.tile, tile_overlap=args.tile_overlap,
        max_memory=args.max_memory, save_tensor=args.save_tensor, grid=args.grid,
        save_intermediate=args.save_intermediate, no_progress=args.no_progress, seen=seen)


MAX_STEPS = 10_000
TASK_FAMILY_FOR_MESSAGES = "sr"  # without --task, the option list shows the settings for SR


def solver_settings(name: str, family: str, steps: int | None, user: dict[str, Any],
                    tuned: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(steps, options to pass): the published settings for the family < the prior's tuned ones < --steps /
    --opt (the solver's signature gives the rest)."""
    opts = solvers.options_for(name, family, steps=steps, overrides=user, tuned=tuned)
    return opts.pop("steps"), opts


def options_in_effect(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Every option of the solver with the value a call with ``options`` uses (signature defaults filled)."""
    return {**solvers.info(name).defaults, **options}


# ------------------------------------------------------------------------------------- plan


@dataclass
class Item:
    """One input file and what becomes of it."""

    index: int
    path: Path
    output: Path
    spec: Spec | None = None
    y_shape: tuple[int, ...] = ()
    x_shape: tuple[int, ...] = ()


@dataclass
class Plan:
    """This rank's inputs: those to restore, and the rows of those already failed or done."""

    files: list[Path]
    items: list[Item]
    rows: list[dict[str, Any]]
    references: dict[str, Path]
    failures: list[tuple[Item, Exception]] = field(default_factory=list)
    """Inputs that cannot be restored, reported (and given rows) once the run is sure to go ahead, so
    that a usage error found later (exit 2) stays the only error line."""

    def report_failures(self) -> None:
        for item, exc in self.failures:
            _fail(item, exc, self.rows)
        self.failures.clear()


def make_plan(run: RestoreRun, ranks: Ranks) -> Plan:
    """Inputs, their degradations (command line over sidecars) and shapes, the outputs they will write
    (checked against every file the run reads) and, with --resume, which are complete already."""
    files = expand_inputs(run.inputs, tensors=True)
    check_unique_stems(files)
    if run.cli.task is None and run.cli.mask is None and not any(
            Sidecar.path_for(f).is_file() for f in files):
        raise RestoraError("no --task given, and the inputs have no sidecar JSON (from restora degrade) "
                           "to take it from; pass --task (e.g. --task sr4)")
    references = {p.stem: p for p in list_images(run.reference)} if run.reference else {}
    plan = Plan(files, [], [], references)
    previous = outputs.previous_rows(run.out) if run.resume else {}
    if run.resume:
        check_same_run(run)
    read = {**{f: "the input" for f in files}, **{p: "the reference" for p in references.values()}}
    for name, value in (("the mask", run.cli.mask), ("the kernel", run.cli.kernel)):
        if value is not None and Path(value).expanduser().is_file():
            read[Path(value).expanduser()] = name
    for index, path in ranks.shard(files):
        item = Item(index, path, run.out / f"{path.stem}.png")
        if run.resume and _skip_finished(item, run, previous.get(str(path)), plan):
            continue
        try:
            item.spec = _item_spec(item, run, read)
        except UsageError:
            raise
        except RestoraError as exc:
            plan.failures.append((item, exc))
            continue
        plan.items.append(item)
    check_no_overwrite([p for it in plan.items for p in _outputs_of(it, run)]
                       + [run.out / name for name in ("summary.csv", "run.json", "runs.jsonl")], read)
    _announce(plan, run)
    return plan


def check_same_run(run: RestoreRun) -> None:
    """--resume continues the run recorded in OUT/run.json: refused (exit 2) when the settings differ."""
    try:
        before = json.loads((run.out / "run.json").read_text())
    except (OSError, ValueError):
        return
    now = {**_settings_record(run), "prior": run.prior_text}
    prior = before.get("prior")
    spec = prior.get("spec") if isinstance(prior, dict) else prior
    was = {**{k: before.get(k) for k in now}, "prior": spec}
    changed = [f"{k} {was[k]!r} -> {now[k]!r}" for k in now
               if json.dumps(was[k], default=str) != json.dumps(now[k], default=str)]
    if changed:
        raise RestoraError(f"--resume: {run.out} holds a run with other settings ({'; '.join(changed)}): "
                           "resume with the same options, or restore into another -o")


def _settings_record(run: RestoreRun) -> dict[str, Any]:
    """The settings a run is recorded with and a --resume must share (outputs made otherwise would mix)."""
    return {"solver": run.solver, "steps": run.steps, "solver_options": run.options,
            "init": None if run.init is None else str(run.init),
            "samples": run.samples, "seed": run.seed, "sigma_y": AUTO if run.estimate_sigma else run.sigma,
            "noise_scale": run.noise_scale, "task": run.cli.task, "kernel": run.cli.kernel,
            "mask": run.cli.mask}


def _item_spec(item: Item, run: RestoreRun, read: dict[Path, str]) -> Spec:
    if not item.path.is_file():
        raise RestoraError("no such file")
    sidecar_path = Sidecar.path_for(item.path)
    sidecar = Sidecar.read(sidecar_path)
    spec = resolve(run.cli, sidecar, item.path.parent, run.seed + item.index)
    run.check_spec(spec, run.solver)
    if not spec.kind.image_measurement and item.path.suffix.lower() != ".npy":
        raise RestoraError(f"a {spec.task} measurement is not an image (k-space, sinogram, magnitudes): give "
                           "the .npy array restora degrade writes for it")
    if spec.kind.needs_image_shape and spec.image_shape is None:
        raise UsageError(f"{item.path}: a {spec.task} measurement needs its sidecar JSON (from restora "
                         "degrade) for the image size; restore the folder restora degrade wrote")
    channels = spec.kind.measurement_channels(run.channels)
    if channels == 1 and file_channels(item.path) == 3 and "gray prior" not in run.seen:
        run.seen.add("gray prior")
        LOG.warning(f"{item.path.name} is a colour image and the prior is for gray ones: it is restored as "
                    "gray (its luma); use a colour prior (e.g. default or ffdnet-color) to keep the colour")
    # a gray measurement of a whole image stays gray: the colour prior runs it through GrayAsColor
    item.y_shape = peek_shape(item.path, channels, keep_gray=channels == run.channels == 3)
    item.x_shape = spec.shape_of_image(item.y_shape)
    expected = tuple(spec.build(item.x_shape).y_shape(torch.Size(item.x_shape)))
    if expected != item.y_shape:
        raise RestoraError(f"the measurement is {_dims(item.y_shape)} but {spec.task} makes "
                           f"{_dims(expected)} measurements of {_dims(item.x_shape)} images")
    if run.estimate_sigma:
        spec.sigma_y, spec.sigma_estimated = _estimated_sigma(item, spec), True
    read[sidecar_path] = "the sidecar"
    for key, name in (sidecar.files() if sidecar is not None else {}).items():
        read[item.path.parent / name] = f"the sidecar's {key} file"
    for name, value in (("the mask", spec.mask), ("the kernel", spec.kernel)):
        if value is not None and Path(value).is_file():
            read[Path(value)] = name
    return spec


def _estimated_sigma(item: Item, spec: Spec) -> float:
    """--sigma-y auto: the noise std of the measurement, estimated in its own domain (on [-1, 1])."""
    from restora.operators.noise_level import estimate_sigma_y

    y = read_measurement(item.path, item.y_shape[1])
    sigma = min(float(estimate_sigma_y(spec.build(item.x_shape), y)[0]), SIGMA_Y_MAX)
    LOG.info(f"{item.path.name}: sigma_y estimated {describe_sigma(sigma)}")
    return sigma


def _outputs_of(item: Item, run: RestoreRun) -> list[Path]:
    return outputs.output_paths(item.output.parent, item.path.stem, tensor=run.save_tensor, grid=run.grid,
                                samples=run.samples, intermediate=run.save_intermediate,
                                kernel=solvers.info(run.solver).blind)


def _skip_finished(item: Item, run: RestoreRun, previous: dict | None, plan: Plan) -> bool:
    """--resume: a complete output is skipped (and scored if its previous row has no metrics); an
    incomplete one is restored again."""
    if not item.output.exists():
        return False
    broken = [p for p in _outputs_of(item, run) if not outputs.is_complete_output(p)]
    if broken:
        what = "missing or incomplete (empty or cannot be decoded)"
        LOG.warning(f"{', '.join(map(str, broken))}: {what}: restoring {item.path.name} again")
        return False
    row = {**(previous or {}), "index": item.index, "file": str(item.path), "output": str(item.output),
           "status": "skipped"}
    if run.reference and not row.get("psnr"):
        row.update(outputs.score(item.output, plan.references.get(item.path.stem), run.crop_border,
                                 item.path.name))
    plan.rows.append(row)
    return True


def _announce(plan: Plan, run: RestoreRun) -> None:
    drawn = next((it.spec for it in plan.items
                  if it.spec.source == "command line" and it.spec.draws_random()), None)
    if drawn is not None:
        what = "mask" if drawn.kind.inpaint else "matrix" if drawn.task == "cs" else "kernel"
        LOG.warning(f"--task {drawn.task} draws a random {what} per image (seed + index): it must be the one "
                    "the measurements were made with; for real measurements pass --mask/--kernel files, or "
                    "restore the outputs of `restora degrade` (sidecars)")
    if run.sigma is not None or run.estimate_sigma:  # announced at check time, or per file as estimated
        return
    sidecar_sigmas = sorted({it.spec.sigma_y for it in plan.items if it.spec.source == "sidecar"})
    if sidecar_sigmas:
        LOG.info("sigma_y from the sidecars: " + ", ".join(describe_sigma(s) for s in sidecar_sigmas))
    elif plan.items:
        LOG.info("sigma_y = 0 (no --sigma-y and no sidecar): the measurements are taken as noiseless")


def _fail(item: Item, exc: BaseException | str, rows: list[dict[str, Any]]) -> None:
    msg = error(exc, "" if str(item.path) in str(exc) else str(item.path))
    rows.append({"index": item.index, "file": str(item.path), "output": "", "status": "failed", "error": msg})


def _dims(shape: tuple[int, ...]) -> str:
    return f"{shape[-3]}x{shape[-2]}x{shape[-1]}"


# ------------------------------------------------------------------------------------- batches


@dataclass
class Batch:
    """Inputs restored in one solve: same sizes and operator (inpainting masks stack per sample)."""

    items: list[Item]
    steps: int
    options: dict[str, Any]
    tiles: TilePlan | None = None  # how the prior fits in memory (set once the prior is loaded)

    @property
    def spec(self) -> Spec:
        assert self.items[0].spec is not None
        return self.items[0].spec

    def name(self) -> str:
        return self.items[0].path.name if len(self.items) == 1 else f"{len(self.items)} images"


def make_batches(plan: Plan, run: RestoreRun) -> list[Batch]:
    """Groups of equal key, at most --batch-size each, with the solver settings of their task family."""
    groups: dict[tuple, list[Item]] = {}
    for item in plan.items:
        groups.setdefault(_batch_key(item), []).append(item)
    batches = []
    for group in groups.values():
        steps, opts = solver_settings(run.solver, group[0].spec.family(), run.steps, run.options,
                                      run.tuned)
        if run.init is not None:
            warm_steps, opts = warm_settings(run.solver, group[0].spec.family(), run.init, run.steps, opts,
                                             run.options)
            steps = warm_steps or steps
        size = run.batch_size
        batches += [Batch(group[i:i + size], steps, opts) for i in range(0, len(group), size)]
    return batches


def _batch_key(item: Item) -> tuple:
    s = item.spec
    assert s is not None
    base = (item.x_shape, item.y_shape, s.sigma_y, "inpaint" if s.kind.inpaint else s.task)
    if s.kind.inpaint:
        return base
    return (*base, json.dumps(s.options, sort_keys=True, default=str), s.kernel,
            s.seed if s.draws_random() else None)


def _batch_operator(items: list[Item]) -> Operator:
    ops = [it.spec.build(it.x_shape) for it in items]  # type: ignore[union-attr]
    if len(ops) > 1 and all(isinstance(o, Inpaint) for o in ops):
        return Inpaint(torch.cat([o.mask for o in ops]))
    return ops[0]


# ------------------------------------------------------------------------------------- solve


@dataclass
class Solved:
    """A batch's restorations (CPU, [-1, 1]) and what it took."""

    x: Tensor  # (N, C, H, W): the restoration, or the mean of the draws
    spread: Tensor | None  # (N, C, H, W) per-pixel std of the draws ([0, 1] scale), with --samples
    y: Tensor  # the measurements
    op: Operator
    nfe: int
    seconds: float
    tile: int | None
    frames: list[tuple[int, Tensor]] = field(default_factory=list)


def plan_memory(batches: list[Batch], prior: Prior, run: RestoreRun) -> None:
    """Each batch's tiling, from the prior's estimated memory and what may be used (--max-memory, else
    half of what is free): a batch that cannot fit stops the run here, before any solve (exit 2)."""
    budget = run.max_memory or _half(available_bytes(run.device))
    bpp = prior_bytes_per_pixel(prior, run.device) if batches and budget is not None else None
    for batch in batches:
        h, w = batch.items[0].x_shape[-2:]
        batch.tiles = plan_tiles(prior, h, w, len(batch.items) * run.samples, tile=run.tile,
                                 overlap=run.tile_overlap, budget=budget, bytes_per_pixel=bpp)


def solve_batch(batch: Batch, ys: list[Tensor], prior: Prior, run: RestoreRun,
                progress: RunProgress) -> Solved:
    """The restoration of one batch: operator, tiled prior where planned, the solver with progress."""
    op = _batch_operator(batch.items)
    y = torch.cat(ys)
    if isinstance(op, Inpaint):  # whatever the file holds in the holes is not a measurement
        y = y * op.mask
    plan = batch.tiles or TilePlan(None, 1, 0, None)
    net = for_channels(prior, batch.items[0].x_shape[1])
    if plan.tile is not None:
        net = TiledPrior(net, tile=plan.tile, overlap=run.tile_overlap, tile_batch=plan.tile_batch)
        net.on_tiles = progress.tile
        if plan.tile_batch == 1:
            LOG.info(f"{batch.name()}: the prior would need ~{plan.need_bytes / 2**30:.2f} GiB for the whole "
                     f"image, {plan.budget_bytes / 2**30:.2f} GiB may be used: tiles of {plan.tile} px")
    timed = TimedPrior(net)
    frames: list[tuple[int, Tensor]] = []
    samples = run.samples

    def callback(step: solvers.Step) -> None:
        progress.nfe()
        if run.save_intermediate:
            frames.append((step.nfe, outputs.thumb(step.x0.unflatten(0, (-1, samples)).mean(1))))

    gen = torch.Generator().manual_seed(run.seed + batch.items[0].index)
    t0 = time.perf_counter()  # a warm start's estimate is part of the restoration's time
    warm = {} if run.estimates is None else {"x_init": run.estimates(
        [it.path for it in batch.items], op, y.to(run.device), solver=run.solver, sigma_y=batch.spec.sigma_y,
        family=batch.spec.family(), generator=gen).repeat_interleave(samples, 0)}
    progress.batch(batch.name(), solvers.info(run.solver).nfe(batch.steps, prior, **batch.options))
    draws = solvers.restore_samples(run.solver, timed, op, y.to(run.device), samples=samples,
                                    steps=batch.steps, sigma_y=batch.spec.sigma_y, generator=gen,
                                    callback=callback, **batch.options, **warm)
    synchronize(run.device)
    seconds = time.perf_counter() - t0
    draws = draws.detach().float().cpu()
    spread = draws.clamp(-1, 1).std(1) / 2 if samples > 1 else None
    x = draws.mean(1) if samples == 1 else draws.clamp(-1, 1).mean(1)
    return Solved(x, spread, y.cpu(), op, timed.calls, seconds, plan.tile, frames)


def read_batch(batch: Batch, rows: list[dict[str, Any]]) -> tuple[list[Item], list[Tensor]]:
    """The batch's measurements; an unreadable one fails alone."""
    good, ys = [], []
    for item in batch.items:
        try:
            with forward_warnings(f"{item.path.name}: "):
                y = read_measurement(item.path, item.y_shape[1])
            if tuple(y.shape) != item.y_shape:
                raise RestoraError(f"the measurement is {_dims(tuple(y.shape))}, expected "
                                   f"{_dims(item.y_shape)}")
            if item.spec.kind.image_measurement and not y.is_complex():
                check_image_range(y, item.path)
            good.append(item)
            ys.append(y)
        except Exception as exc:
            _fail(item, exc, rows)
    return good, ys


def write_batch(batch: Batch, solved: Solved, run: RestoreRun, pinfo: PriorInfo, plan: Plan,
                rows: list[dict[str, Any]]) -> None:
    """Each image's outputs and summary row, OUT/NAME.png last (an input is done once it exists); a
    restoration that is not finite, degenerate, out of range or noise-amplified fails alone."""
    initial = solved.op.initial_estimate(solved.y)
    for i, item in enumerate(batch.items):
        try:
            problem = outputs.restoration_problem(solved.x[i], solved.y[i], initial[i], item.spec.sigma_y)
            if problem is not None:
                raise RestoraError(problem)
            spread = solved.spread[i:i + 1] if solved.spread is not None else None
            restored = outputs.write_restoration(solved.x[i:i + 1], spread, item.output,
                                                 tensor=run.save_tensor)
            if solved.op.blind:
                outputs.write_kernel(solved.op.estimate[i], item.output)
            ref = plan.references.get(item.path.stem)
            if run.reference is not None and ref is None:
                LOG.warning(f"{item.path.name}: no reference named {item.path.stem!r} in {run.reference}")
            with outputs.final_image(restored, item.output) as written:
                scores = outputs.score(written, ref, run.crop_border, item.path.name)
                if run.grid:
                    _grid(item, solved, i, initial[i:i + 1], restored, ref, scores, run)
                if run.save_intermediate and solved.frames:
                    outputs.write_strip(solved.frames, i,
                                        item.output.parent / "intermediate" / item.output.name)
            rows.append({"index": item.index, "file": str(item.path), "output": str(item.output),
                         "status": "ok", "task": item.spec.task, "solver": run.solver, "prior": pinfo.name,
                         "steps": batch.steps, "nfe": solved.nfe,
                         "seconds": solved.seconds / len(batch.items),
                         "samples": run.samples, "sigma_y": item.spec.sigma_y,
                         "sigma_y_estimated": item.spec.sigma_estimated,
                         "seed": run.seed + batch.items[0].index, "batch_size": len(batch.items),
                         "tile": solved.tile, **scores})
        except Exception as exc:
            _fail(item, exc, rows)


def _grid(item: Item, solved: Solved, i: int, initial: Tensor, restored: Tensor, ref: Path | None,
          scores: dict, run: RestoreRun) -> None:
    from restora.pictures import as_unit

    y = solved.y[i:i + 1]
    if item.spec.kind.image_measurement and y.shape[1] in (1, 3):
        shown, label = as_unit(y), "measurement"
    else:  # compressed sensing, k-space, sinograms: show the cheap estimate (A+ y, FBP)
        shown, label = as_unit(initial), "from y"
    outputs.write_grid(shown, label, restored, ref, scores.get("psnr"), run.solver,
                       item.output.parent / "grid" / item.output.name)


# ------------------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> int:
    ranks = Ranks.from_env()
    set_rank(ranks.rank)
    set_threads(args.threads)
    t_start = time.perf_counter()
    run = check_arguments(args)
    plan = make_plan(run, ranks)
    ranks.init(run.device)
    prior = pinfo = None
    if plan.items:
        prior, pinfo = _load(run)
    batches = make_batches(plan, run) if prior is not None else []
    plan_memory(batches, prior, run)
    plan.report_failures()
    rows = list(plan.rows)
    total = sum(solvers.info(run.solver).nfe(b.steps, prior, **b.options) for b in batches)
    if run.compile == "auto" and pinfo is not None:
        _compile_where_it_pays(prior, pinfo, batches, run)
    progress = RunProgress(sum(len(b.items) for b in batches), total, enabled=enabled(run.no_progress))
    try:
        for batch in batches:
            _restore(batch, run, prior, pinfo, plan, rows, progress)
    finally:
        progress.close()
    used = {b.spec.family(): {"steps": b.steps, **b.options} for b in batches}
    return summarise(run, ranks, plan, pinfo, rows, t_start, used)


def _load(run: RestoreRun) -> tuple[Prior, PriorInfo]:
    if run.compile != "off":
        persistent_compile_cache()
    prior, pinfo = load_spec(run.prior, device=run.device, dtype=run.dtype,
                             channels_last=run.channels_last, compile=run.compile == "on",
                             split=run.prior_split)
    source = "" if pinfo.weights == pinfo.name else f" ({pinfo.weights})"
    layout = ", channels_last" if pinfo.channels_last else ""
    LOG.info(f"prior {pinfo.name}{source} on {run.device}, {pinfo.dtype}{layout}")
    if pinfo.weights == "random":
        LOG.warning(f"{run.prior_text}: random weights, the restorations are meaningless (testing only)")
    return prior, pinfo


def _compile_where_it_pays(prior: Prior, pinfo: PriorInfo, batches: list[Batch], run: RestoreRun) -> None:
    """--compile auto: torch.compile the prior where the run's network calls repay the compilation."""
    work = sum(image_calls(solvers.info(run.solver).nfe(b.steps, prior, **b.options),
                           len(b.items) * run.samples, *b.items[0].x_shape[-2:]) for b in batches)
    if compile_pays(pinfo.name, run.device, work):
        LOG.info(f"compiling the prior (--compile auto: {work:.0f} image-calls of 256 px repay it here)")
        prior.configure(dtype=pinfo.dtype, channels_last=pinfo.channels_last, compile=True)


def _half(free: int | None) -> int | None:
    return None if free is None else free // 2


def _restore(batch: Batch, run: RestoreRun, prior: Prior, pinfo: PriorInfo, plan: Plan,
             rows: list[dict[str, Any]], progress: RunProgress) -> None:
    shown = " ".join(f"{k}={v}" for k, v in batch.options.items() if k not in ("x_init",))
    LOG.info(f"{run.solver} on {batch.spec.family()}: steps={batch.steps} {shown}".rstrip())
    n = len(batch.items)
    good, ys = read_batch(batch, rows)
    if good:
        batch = Batch(good, batch.steps, batch.options, batch.tiles)
        try:
            solved = solve_batch(batch, ys, prior, run, progress)
        except Exception as exc:
            if run.device.type == "cuda":
                torch.cuda.empty_cache()
            for item in batch.items:
                _fail(item, exc, rows)
        else:
            write_batch(batch, solved, run, pinfo, plan, rows)
    progress.finished(n)


def summarise(run: RestoreRun, ranks: Ranks, plan: Plan, pinfo: PriorInfo | None, rows: list[dict[str, Any]],
              t_start: float, used: dict[str, Any]) -> int:
    """Rank 0 merges the ranks' rows after a barrier and writes summary.csv and run.json; every rank exits
    with the status of the whole run."""
    out = run.out
    if ranks.world > 1:
        outputs.write_rows(out / f".summary-rank{ranks.rank}.csv", rows)
        ranks.barrier()
    failed = sum(r["status"] == "failed" for r in rows)
    if ranks.rank == 0:
        if ranks.world > 1:
            parts = [out / f".summary-rank{r}.csv" for r in range(ranks.world)]
            rows = [row for part in parts for row in outputs.read_rows(part)]
            for part in parts:
                part.unlink(missing_ok=True)
        record = {**_run_record(run, ranks, plan, pinfo, t_start), "solver_settings": used}
        try:
            outputs.write_rows(out / "summary.csv", outputs.with_earlier_rows(out / "summary.csv", rows))
            write_json_atomic(out / "run.json", record)
            outputs.append_record(out / "runs.jsonl", record)
        except OSError as exc:
            LOG.error(f"cannot write the run's records (summary.csv, run.json) in {out}: {exc}; the outputs "
                      "written so far are complete: free space, then rerun with --resume")
            failed += 1
        counts = {k: sum(r["status"] == k for r in rows) for k in ("ok", "skipped", "failed")}
        LOG.info(f"restored {counts['ok']} image(s)"
                 + (f", {counts['skipped']} skipped (--resume)" if counts["skipped"] else "")
                 + (f", {counts['failed']} failed" if counts["failed"] else "")
                 + f" in {time.perf_counter() - t_start:.1f} s -> {out}/ (summary.csv)")
    failed = ranks.all_sum(failed)
    ranks.close()
    return 1 if failed else 0


def _run_record(run: RestoreRun, ranks: Ranks, plan: Plan, pinfo: PriorInfo | None,
                t_start: float) -> dict[str, Any]:
    return {"restora": restora.__version__, "torch": torch.__version__, "device": str(run.device),
            "world_size": ranks.world, "threads": torch.get_num_threads(),
            "prior": pinfo.as_dict() if pinfo else {"spec": run.prior_text}, **_settings_record(run),
            "batch_size": run.batch_size,
            "dtype": pinfo.dtype if pinfo else run.dtype,
            "channels_last": pinfo.channels_last if pinfo else run.channels_last,
            "inputs": [str(f) for f in plan.files], "seconds": round(time.perf_counter() - t_start, 3)}
