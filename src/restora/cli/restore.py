"""``restora restore``: restore measurements (degraded images) with a solver and a diffusion prior."""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import restora
from restora import solvers
from restora.bench import TimedPrior, synchronize
from restora.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Console,
    Ranks,
    check_outputs,
    check_sigma,
    check_solver_options,
    expand_inputs,
    forward_warnings,
    load_prior,
    one_line,
    parse_pairs,
    positive_int,
    prepare_output_dir,
    progress,
    resolve_device,
    set_threads,
    solver_keywords,
    wrap_tiled,
    write_json_atomic,
    write_text_atomic,
)
from restora.cli.specs import (
    NOISE_SCALES,
    CliSpec,
    Spec,
    check_kernel,
    check_mask_file,
    describe_sigma,
    image_shape,
    is_inpaint,
    measurement_channels,
    peek_shape,
    probe_operator,
    read_measurement,
    read_sidecar,
    resolve,
    save_array,
    save_measurement_array,
    sidecar_path,
)
from restora.errors import RestoraError
from restora.io import list_images, write_image
from restora.operators import Inpaint, Operator, sigma_on_model_scale
from restora.priors.base import Prior

EXAMPLES = """examples:
  # 4x super-resolution of every image in lr/ with DiffPIR and the bundled prior
  restora restore lr/ --task sr4 --solver diffpir --steps 50 -o out/sr4
  # measurements made by `restora degrade`: task, kernel, mask and sigma_y come from their sidecars
  restora restore measured/ --solver ddrm --steps 20 -o out/ddrm --reference clean/ --grid
  # motion deblurring with a known kernel; noise std quoted on the 0..255 scale
  restora restore blurry.png --task deblur --kernel levin:3 --sigma-y 2.55 --noise-scale 255 -o out/
  # inpainting: the mask file marks the known pixels in white (--invert-mask for the opposite)
  restora restore photo.png --task inpaint --mask holes.png --solver repaint --steps 100 -o out/
  # a public checkpoint, solver options, batches of 4 on the GPU in bfloat16
  restora restore faces/ --task sr4 --prior adm-ffhq256:ffhq_10m.pt --solver dps --steps 1000 \\
      --opt zeta=0.3 --batch-size 4 --device cuda --dtype bf16 -o out/dps
  # the mean of 8 posterior samples per image, and their per-pixel spread in out/std/
  restora restore blurry.png --task deblur-gauss --sigma-y 0.05 --samples 8 -o out/
  # several GPUs: the sorted inputs are shared out between the ranks
  torchrun --nproc-per-node 4 -m restora restore lr/ --task sr4 --device cuda -o out/sr4

Inputs are measurements: PNG/JPEG/TIFF/BMP/WebP images (8/16-bit, gray or RGB; alpha is dropped)
or lossless .npy arrays from `restora degrade --save-tensor`. Outputs are OUT/<name>.png (written
atomically), OUT/summary.csv and OUT/run.json; --grid adds OUT/grid/<name>.png,
--save-intermediate OUT/intermediate/<name>.png and --samples OUT/std/<name>.png. Exit status: 0 all
restored, 1 some input failed (the others were still restored), 2 the command cannot run as given.
See docs/cli.md.
"""

ROW_FIELDS = ("index", "file", "output", "status", "task", "solver", "prior", "steps", "nfe", "seconds",
              "samples", "sigma_y", "seed", "batch_size", "tile", "psnr", "ssim", "psnr_y", "ssim_y", "error")
INTERMEDIATE_FRAMES = 8
THUMB_WIDTH = 128
STD_GAIN = 4  # OUT/std/NAME.png shows 4 x the per-pixel std on the [0, 1] scale (white: std >= 0.25)
GRID_MIN_WIDTH = 160


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "restore", parents=parents, help="restore measurements with a diffusion prior",
        description="Restore measurements (degraded images) with a zero-shot solver and a diffusion prior.",
        epilog=EXAMPLES + _catalogue(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="measurement files or folders")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    g = p.add_argument_group("degradation (default: from each measurement's sidecar JSON)")
    g.add_argument("--task", help="sr4, deblur-gauss, deblur-motion, deblur, inpaint, denoise, colorize, "
                                  "jpeg, cs, ... (all listed below)")
    g.add_argument("--kernel", metavar="SPEC|FILE",
                   help="blur kernel: levin:1..8, k12:1..12, gauss:SIZE:STD, motion:SIZE:INT:SEED or a file")
    g.add_argument("--mask", metavar="SPEC|FILE",
                   help="inpainting mask: box[:SIZE], random[:RATIO missing], lines[:N], half[:SIDE] or a "
                        "file (white = known); it must describe the missing pixels of the measurement")
    g.add_argument("--invert-mask", action="store_true",
                   help="the mask file is white where pixels are missing")
    g.add_argument("--task-opt", action="append", metavar="KEY=VALUE",
                   help="operator option, e.g. quality=20 for jpeg, ratio=0.1 for cs (repeatable)")
    g.add_argument("--sigma-y", type=float, metavar="S",
                   help="measurement noise std (default: sidecar, else 0)")
    g.add_argument("--noise-scale", choices=NOISE_SCALES, default="[-1,1]",
                   help="scale --sigma-y is quoted on (default [-1,1]; '255' for 8-bit units)")
    g = p.add_argument_group("solver and prior")
    g.add_argument("--solver", default="diffpir",
                   help="diffpir (default), ddrm, ddnm, dps, pigdm, mcg, ilvr, repaint (all listed below)")
    g.add_argument("--opt", action="append", metavar="KEY=VALUE",
                   help="solver option, e.g. --opt lam=7 --opt zeta=0.3 (repeatable)")
    g.add_argument("--steps", type=positive_int, help="denoiser evaluations (default: the solver's)")
    g.add_argument("--prior", default="default",
                   help="default, a preset (adm-ffhq256, adm-imagenet256-uncond) as NAME:WEIGHTS_FILE, "
                        "a weights file, adm:CONFIG.json (with --weights) or diffusers:FOLDER")
    g.add_argument("--weights", metavar="FILE", help="weights file for a preset name or adm:CONFIG.json")
    g.add_argument("--seed", type=int, default=0, help="base seed; image i (sorted order) uses seed + i")
    g.add_argument("--samples", type=positive_int, default=1, metavar="S",
                   help="restorations per image, drawn together in one batch; the output is their mean "
                        "(a posterior-mean estimate: higher PSNR, fewer artefacts) and OUT/std/NAME.png "
                        "their per-pixel spread (default 1)")
    g.add_argument("--tile", type=int, metavar="N",
                   help="tile size for the prior (default: the native size of fixed-size priors when the "
                        "image is larger; 0: never tile)")
    g.add_argument("--tile-overlap", type=int, default=64, metavar="N", help="tile overlap (default 64)")
    g = p.add_argument_group("running")
    g.add_argument("--batch-size", type=positive_int, default=1, metavar="B",
                   help="images of one size and degradation restored together (default 1)")
    g.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    g.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="prior compute dtype (default auto: bf16 where the device runs it fast, else fp32; "
                        "the solver itself stays fp32)")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   help="channels_last memory layout for the prior (default: on)")
    g.add_argument("--compile", action="store_true", help="torch.compile the prior")
    g.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    g.add_argument("--resume", action="store_true", help="skip inputs whose output already exists")
    g = p.add_argument_group("outputs")
    g.add_argument("--reference", metavar="DIR", help="clean images (same names): PSNR/SSIM in the summary")
    g.add_argument("--crop-border", type=int, default=0, metavar="N", help="border ignored by the metrics")
    g.add_argument("--grid", action="store_true",
                   help="write OUT/grid/NAME.png: measurement | restored | reference, labelled, with PSNR")
    g.add_argument("--save-intermediate", action="store_true",
                   help=f"write OUT/intermediate/NAME.png: the x0 estimates at ~{INTERMEDIATE_FRAMES} steps")
    g.add_argument("--save-tensor", action="store_true", help="also write OUT/NAME.npy (float, unclipped)")
    p.set_defaults(func=run)


def _catalogue() -> str:
    from restora.operators import TASKS

    lines = ["", "tasks:"]
    lines += [f"  {name:<15} {text}" for name, text in TASKS.items()]
    lines += ["", "solvers:"]
    for name in solvers.list():
        meta = solvers.info(name)
        need = "inpainting only" if meta.masks_only else "SVD operators" if meta.needs_svd else \
            "linear operators" if meta.needs_linear else "any operator"
        if name != "ddim":
            lines.append(f"  {name:<8} {meta.summary} [{need}]")
    return "\n".join(lines) + "\n"


@dataclass
class Item:
    """One input file and what became of it."""

    index: int
    path: Path
    output: Path
    spec: Spec | None = None
    y_shape: tuple[int, ...] = ()
    x_shape: tuple[int, ...] = ()


def _fail(item: Item, exc: BaseException | str, rows: list[dict[str, Any]]) -> None:
    msg = one_line(exc)
    where = "" if str(item.path) in msg else f"{item.path}: "
    Console.error(where + msg, exc if isinstance(exc, BaseException) else None)
    rows.append({"index": item.index, "file": str(item.path), "output": "", "status": "failed", "error": msg})


def _solver_settings(name: str, family: str, steps: int | None, user: dict[str, Any],
                     prior: Prior | None = None) -> tuple[int, dict]:
    """(steps, keyword options) for a task family: the solver's published defaults for the family and
    the prior's tuned settings (:func:`restora.solvers.settings`), then the signature's defaults,
    overridden by --steps / --opt."""
    fn = solvers.get(name)
    defaults = solvers.settings(name, family, prior)
    allowed = solver_keywords(fn)
    opts = {k: v for k, v in defaults.items() if k in allowed}
    opts.update(user)
    if steps is None:
        steps = int(defaults.get("steps", inspect.signature(fn).parameters["steps"].default))
    return steps, opts


class _UnitPrior(Prior):
    """The exact denoiser of a N(0, I) image prior, D(x, sigma) = x / (1 + sigma^2): a free stand-in
    for the real prior when checking a solver's options."""

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        return x / (1 + sigma.view(-1, 1, 1, 1) ** 2)


class _StopDryRun(Exception):
    pass


def _dry_run(name: str, op: Operator, shape: tuple[int, ...], steps: int, sigma_y: float,
             opts: dict[str, Any]) -> None:
    """Run the first step of the solver on the probe operator with :class:`_UnitPrior`, so that the
    solver rejects bad option values (``--opt zeta=2``) before anything real is loaded."""
    y = op.A(torch.zeros(shape))

    def stop(*_: Any) -> None:
        raise _StopDryRun

    try:
        solvers.get(name)(_UnitPrior(), op, y, steps=steps, sigma_y=sigma_y,
                          generator=torch.Generator().manual_seed(0), callback=stop, **opts)
    except _StopDryRun:
        pass
    except (TypeError, ValueError) as exc:
        if isinstance(exc, RestoraError):
            raise
        raise RestoraError(f"{name} rejects its options {opts}: {one_line(exc)}") from exc


def _draws_operator(spec: Spec) -> bool:
    """Whether the operator of ``spec`` is drawn at random from the seed (masks, kernels, CS matrices)."""
    return (spec.task in ("inpaint-random", "inpaint-lines", "cs")
            or (spec.task == "inpaint-box" and spec.options.get("center") is False)
            or (spec.task == "deblur-motion" and spec.kernel is None)
            or ((spec.kernel or "").startswith("motion:") and spec.kernel.count(":") < 3))  # no SEED field


def _drawn(spec: Spec) -> str:
    return "mask" if is_inpaint(spec.task) else "matrix" if spec.task == "cs" else "kernel"


def _batch_key(item: Item) -> tuple:
    """Inputs with equal keys may share one batch: same sizes and the same operator (inpainting
    masks may differ: they are stacked into one per-sample mask)."""
    s = item.spec
    assert s is not None
    base = (item.x_shape, item.y_shape, s.sigma_y, s.task if not is_inpaint(s.task) else "inpaint")
    if is_inpaint(s.task):
        return base
    return (*base, json.dumps(s.options, sort_keys=True, default=str), s.kernel,
            s.seed if _draws_operator(s) else None)


def _batch_operator(items: list[Item]) -> Operator:
    ops = [it.spec.build(it.x_shape) for it in items]  # type: ignore[union-attr]
    if len(ops) == 1:
        return ops[0]
    if all(isinstance(o, Inpaint) for o in ops):
        return Inpaint(torch.cat([o.mask for o in ops]))
    return ops[0]


def _thumb(x0: Tensor) -> Tensor:
    """Small [0, 1] copies of a batch of x0 estimates (for the intermediate strip)."""
    x = ((x0.detach().float() + 1) / 2).clamp(0, 1).cpu()
    h, w = x.shape[-2:]
    if w > THUMB_WIDTH:
        x = torch.nn.functional.interpolate(x, size=(max(1, round(h * THUMB_WIDTH / w)), THUMB_WIDTH),
                                            mode="area")
    return x


def _references(folder: str | None) -> dict[str, Path]:
    if folder is None:
        return {}
    return {p.stem: p for p in list_images(folder)}


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in sorted(rows, key=lambda r: r["index"]):
        w.writerow({k: _fmt(r.get(k)) for k in ROW_FIELDS})
    write_text_atomic(path, buf.getvalue())


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def _read_rows(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["index"] = int(r["index"])
    return rows


@torch.no_grad()
def run(args: argparse.Namespace) -> int:
    ranks = Ranks.from_env()
    Console.rank = ranks.rank
    set_threads(args.threads)
    t_start = time.perf_counter()

    # ---- everything that can be checked before touching an image or a model (exit 2)
    meta = solvers.info(args.solver)
    if args.solver == "ddim":
        raise RestoraError("ddim samples without a measurement; choose a restoration solver: "
                           + ", ".join(n for n in solvers.list() if n != "ddim"))
    user_opts = check_solver_options(args.solver, meta.load(), parse_pairs(args.opt, "--opt"))
    args.solver_options = user_opts
    sigma_cli = None
    if args.sigma_y is not None:
        sigma_cli = sigma_on_model_scale(check_sigma(args.sigma_y), args.noise_scale)
    if args.tile is not None and args.tile < 0:
        raise RestoraError(f"--tile must be >= 0, got {args.tile}")
    if args.tile_overlap < 0:
        raise RestoraError(f"--tile-overlap must be >= 0, got {args.tile_overlap}")
    if args.crop_border < 0:
        raise RestoraError(f"--crop-border must be >= 0, got {args.crop_border}")
    cli = CliSpec(task=args.task, mask=args.mask, kernel=args.kernel,
                  task_options=parse_pairs(args.task_opt, "--task-opt"), sigma_y=sigma_cli,
                  invert_mask=args.invert_mask)
    check_kernel(args.kernel)
    check_mask_file(args.mask)
    checked: set[str] = set()

    def check_spec(spec: Spec) -> None:
        """Operator options, solver/operator compatibility and the solver's own checks of its options,
        on a stand-in operator and prior: before any image or model is loaded."""
        key = json.dumps([spec.task, spec.options, spec.kernel, spec.sigma_y], sort_keys=True, default=str)
        if key in checked:
            return
        op, shape = probe_operator(spec)
        solvers.check_compatible(args.solver, op)
        steps, opts = _solver_settings(args.solver, spec.family(), args.steps, user_opts)
        _dry_run(args.solver, op, shape, steps, spec.sigma_y, opts)
        checked.add(key)

    if args.task is not None or args.mask is not None:
        check_spec(resolve(cli, None, Path("."), args.seed))
    if args.reference is not None and not Path(args.reference).is_dir():
        raise RestoraError(f"--reference {args.reference}: no such folder")
    device = resolve_device(args.device, ranks.local_rank if ranks.world > 1 else None)
    out = prepare_output_dir(args.out)
    files = expand_inputs(args.inputs, tensors=True)
    check_outputs(files, out, (".png", ".npy") if args.save_tensor else (".png",))
    if sigma_cli is not None:
        given = "" if args.noise_scale == "[-1,1]" else \
            f" (given as {args.sigma_y:g} on the {args.noise_scale} scale)"
        Console.info(f"sigma_y = {describe_sigma(sigma_cli)}{given}")
    if cli.task is None and cli.mask is None and not any(sidecar_path(f).is_file() for f in files):
        raise RestoraError("no --task given, and the inputs have no sidecar JSON (from restora degrade) "
                           "to take it from; pass --task (e.g. --task sr4)")
    ranks.init(device)

    # ---- this rank's inputs, their degradations (command line + sidecars)
    rows: list[dict[str, Any]] = []
    items: list[Item] = []
    warned_random = False
    previous = {}  # rows of the run being resumed, by input file
    if args.resume and (out / "summary.csv").is_file():
        try:
            previous = {r["file"]: r for r in _read_rows(out / "summary.csv") if r.get("status") == "ok"}
        except (OSError, ValueError, KeyError, csv.Error):
            previous = {}
    for index, path in ranks.shard(files):
        item = Item(index, path, out / f"{path.stem}.png")
        if args.resume and item.output.is_file():
            rows.append({**previous.get(str(path), {}), "index": index, "file": str(path),
                         "output": str(item.output), "status": "skipped"})
            continue
        try:
            if not path.is_file():
                raise RestoraError("no such file")
            item.spec = resolve(cli, read_sidecar(path), path.parent, args.seed + index)
            check_spec(item.spec)
        except Exception as exc:
            _fail(item, exc, rows)
            continue
        items.append(item)
        if item.spec.source == "command line" and _draws_operator(item.spec) and not warned_random:
            warned_random = True
            Console.warn(f"--task {item.spec.task} draws a random {_drawn(item.spec)} per image "
                         "(seed + index): it must be the one the measurements were made with; for real "
                         "measurements pass --mask/--kernel files, or restore the outputs of "
                         "`restora degrade` (sidecars)")
    sidecar_sigmas = sorted({it.spec.sigma_y for it in items if it.spec and it.spec.source == "sidecar"})
    if sigma_cli is None and sidecar_sigmas:
        Console.info("sigma_y from the sidecars: " + ", ".join(describe_sigma(s) for s in sidecar_sigmas))
    elif sigma_cli is None and items:
        Console.info("sigma_y = 0 (no --sigma-y and no sidecar): the measurements are taken as noiseless")

    prior = pinfo = None
    if items:
        prior, pinfo = load_prior(args.prior, args.weights, device=device, dtype=args.dtype,
                                  channels_last=args.channels_last, compile=args.compile)
        source = "" if pinfo.weights == pinfo.name else f" ({pinfo.weights})"
        layout = ", channels_last" if pinfo.channels_last else ""
        Console.info(f"prior {pinfo.name}{source} on {device}, {pinfo.dtype}{layout}")
        if pinfo.weights == "random":
            Console.warn(f"{args.prior}: random weights, the restorations are meaningless (testing only)")

    # ---- shapes and operators, per input; then batches of equal keys
    groups: dict[tuple, list[Item]] = {}
    for item in items:
        try:
            assert item.spec is not None and prior is not None
            channels = measurement_channels(item.spec.task, prior.channels)
            item.y_shape = peek_shape(item.path, channels)
            item.x_shape = image_shape(item.spec, item.y_shape)
            op = item.spec.build(item.x_shape)
            expected = tuple(op.y_shape(torch.Size(item.x_shape)))
            if expected != item.y_shape:
                raise RestoraError(
                    f"the measurement is {_dims(item.y_shape)} but {item.spec.task} makes {_dims(expected)} "
                    f"measurements of {_dims(item.x_shape)} images")
        except Exception as exc:
            _fail(item, exc, rows)
            continue
        groups.setdefault(_batch_key(item), []).append(item)
    batches = [g[i:i + args.batch_size] for g in groups.values() for i in range(0, len(g), args.batch_size)]

    refs = _references(args.reference)
    announced: set[tuple] = set()
    with progress(total=sum(len(b) for b in batches), desc="images", unit="img") as bar:
        for batch in batches:
            _restore_batch(batch, args, prior, pinfo, device, out, refs, rows, announced)
            bar.update(len(batch))

    # ---- summary: rank 0 merges the ranks' rows after a barrier, and writes before the last collective
    if ranks.world > 1:
        _write_rows(out / f".summary-rank{ranks.rank}.csv", rows)
        ranks.barrier()
    failed = sum(r["status"] == "failed" for r in rows)
    if ranks.rank == 0:
        if ranks.world > 1:
            parts = [out / f".summary-rank{r}.csv" for r in range(ranks.world)]
            rows = [row for part in parts for row in _read_rows(part)]
            for part in parts:
                part.unlink(missing_ok=True)
        _write_rows(out / "summary.csv", rows)
        write_json_atomic(out / "run.json", {
            "restora": restora.__version__, "torch": torch.__version__, "device": str(device),
            "world_size": ranks.world, "prior": pinfo.as_dict() if pinfo else args.prior,
            "solver": args.solver, "solver_options": user_opts, "steps": args.steps, "samples": args.samples,
            "seed": args.seed, "sigma_y": sigma_cli, "noise_scale": args.noise_scale,
            "task": args.task, "kernel": args.kernel, "mask": args.mask, "batch_size": args.batch_size,
            "dtype": pinfo.dtype if pinfo else args.dtype,
            "channels_last": pinfo.channels_last if pinfo else args.channels_last,
            "inputs": [str(f) for f in files],
            "seconds": round(time.perf_counter() - t_start, 3)})
        counts = {k: sum(r["status"] == k for r in rows) for k in ("ok", "skipped", "failed")}
        Console.info(f"restored {counts['ok']} image(s)"
                     + (f", {counts['skipped']} skipped (--resume)" if counts["skipped"] else "")
                     + (f", {counts['failed']} failed" if counts["failed"] else "")
                     + f" in {time.perf_counter() - t_start:.1f} s -> {out}/ (summary.csv)")
    failed = ranks.all_sum(failed)  # every rank exits with the status of the whole run
    ranks.close()
    return EXIT_FAILED if failed else EXIT_OK


def _dims(shape: tuple[int, ...]) -> str:
    return f"{shape[-3]}x{shape[-2]}x{shape[-1]}"


def _restore_batch(batch: list[Item], args: argparse.Namespace, prior, pinfo, device: torch.device,
                   out: Path, refs: dict[str, Path], rows: list[dict[str, Any]], announced: set) -> None:
    from restora.metrics import evaluate_pair
    from restora.pictures import as_unit, strip

    good, ys = [], []
    for item in batch:
        try:
            assert item.spec is not None
            with forward_warnings(f"{item.path.name}: "):
                y = read_measurement(item.path, measurement_channels(item.spec.task, prior.channels))
            if tuple(y.shape) != item.y_shape:
                raise RestoraError(f"the measurement is {_dims(tuple(y.shape))}, "
                                   f"expected {_dims(item.y_shape)}")
            good.append(item)
            ys.append(y)
        except Exception as exc:
            _fail(item, exc, rows)
    if not good:
        return
    spec = good[0].spec
    assert spec is not None
    try:
        op = _batch_operator(good)
        y = torch.cat(ys)
        if isinstance(op, Inpaint):  # whatever the file holds in the holes is not a measurement
            y = y * op.mask
        y = y.to(device)
        steps, opts = _solver_settings(args.solver, spec.family(), args.steps, args.solver_options, prior)
        key = (spec.family(), steps, json.dumps(opts, sort_keys=True, default=str))
        if key not in announced:
            announced.add(key)
            shown = " ".join(f"{k}={v}" for k, v in opts.items())
            Console.info(f"{args.solver} on {spec.family()}: steps={steps} {shown}".rstrip())
        h, w = good[0].x_shape[-2:]
        draws = args.samples
        net, tile = wrap_tiled(prior, h, w, args.tile, args.tile_overlap)
        timed = TimedPrior(net, sync=False)
        frames: list[tuple[int, Tensor]] = []
        seed = args.seed + good[0].index
        gen = torch.Generator().manual_seed(seed)
        with progress(total=steps, desc=good[0].path.name if len(good) == 1 else f"{len(good)} images",
                      unit="step") as bar:
            def callback(step: int, x: Tensor, x0: Tensor) -> None:
                bar.update(1)
                if args.save_intermediate:
                    frames.append((step, _thumb(x0.unflatten(0, (-1, draws)).mean(1))))

            t0 = time.perf_counter()
            x_hat = solvers.restore_samples(args.solver, timed, op, y, samples=draws, steps=steps,
                                            sigma_y=spec.sigma_y, generator=gen, callback=callback, **opts)
            synchronize(device)
            seconds = time.perf_counter() - t0
        x_hat = x_hat.detach().float().cpu()
        spread = x_hat.clamp(-1, 1).std(1) / 2 if draws > 1 else None  # on the [0, 1] scale
        x_hat = x_hat.mean(1) if draws == 1 else x_hat.clamp(-1, 1).mean(1)
    except Exception as exc:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        for item in good:
            _fail(item, exc, rows)
        return

    for i, item in enumerate(good):
        try:
            restored = as_unit(x_hat[i:i + 1])
            write_image(restored, item.output)
            if args.save_tensor:
                save_measurement_array(x_hat[i:i + 1], item.output.with_suffix(".npy"))
            if spread is not None:
                std_png = out / "std" / item.output.name
                write_image((STD_GAIN * spread[i:i + 1].mean(1, keepdim=True)).clamp(0, 1), std_png)
                if args.save_tensor:
                    save_array(spread[i].numpy(), std_png.with_suffix(".npy"))
            row = {"index": item.index, "file": str(item.path), "output": str(item.output), "status": "ok",
                   "task": item.spec.task, "solver": args.solver, "prior": pinfo.name, "steps": steps,
                   "nfe": timed.calls, "seconds": seconds / len(good), "samples": draws,
                   "sigma_y": item.spec.sigma_y, "seed": seed, "batch_size": len(good), "tile": tile}
            ref = refs.get(item.path.stem)
            scores: dict[str, Any] = {}
            if args.reference is not None and ref is None:
                Console.warn(f"{item.path.name}: no reference named {item.path.stem!r} in {args.reference}")
            elif ref is not None:
                try:
                    scores = evaluate_pair(item.output, ref, crop_border=args.crop_border)
                    row.update({k: scores[k] for k in ("psnr", "ssim", "psnr_y", "ssim_y")})
                except RestoraError as exc:
                    Console.warn(f"{item.path.name}: no metrics: {one_line(exc)}")
            if args.grid:
                _write_grid(item, y[i:i + 1].cpu(), restored, ref, scores, args.solver, out)
            if args.save_intermediate and frames:
                pick = sorted({round(k * (len(frames) - 1) / (INTERMEDIATE_FRAMES - 1))
                               for k in range(INTERMEDIATE_FRAMES)})
                pictures = strip([frames[k][1][i:i + 1] for k in pick],
                                 [f"step {frames[k][0] + 1}" for k in pick])
                write_image(pictures, out / "intermediate" / f"{item.path.stem}.png")
            rows.append(row)
        except Exception as exc:
            _fail(item, exc, rows)


def _write_grid(item: Item, y: Tensor, restored: Tensor, ref: Path | None, scores: dict[str, Any],
                solver: str, out: Path) -> None:
    """OUT/grid/NAME.png: measurement | restored (with PSNR) | reference, labelled."""
    from restora.io import read_image
    from restora.pictures import as_unit, side_by_side

    if y.shape[1] in (1, 3):
        shown, label = as_unit(y), "measurement"
    else:  # e.g. compressed sensing: show the pseudo-inverse
        single = item.spec.build(item.x_shape)  # type: ignore[union-attr]
        shown, label = as_unit(single.pinv(y)), "A+ y"
    psnr = f" {scores['psnr']:.2f} dB" if "psnr" in scores else ""
    images, labels = [shown, restored], [label, f"{solver}{psnr}"]
    if ref is not None:
        images.append(read_image(ref))
        labels.append("reference")
    width = max(int(i.shape[-1]) for i in images)
    if width < GRID_MIN_WIDTH:  # small images: enlarge (nearest) so that the labels fit under them
        factor = -(-GRID_MIN_WIDTH // width)
        images = [torch.nn.functional.interpolate(i.float(), scale_factor=factor, mode="nearest")
                  for i in images]
    write_image(side_by_side(images, labels), out / "grid" / f"{item.path.stem}.png")
