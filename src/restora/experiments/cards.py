"""A trained prior's model card, from its training stages' records: compute per stage (hours and crops
seen), the validation log, the test-set curve against crops seen and what a log-linear trend says it would
take to reach a target. Tables only; the card's prose is hand-written around them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from restora.experiments.tables import markdown
from restora.priors.loaders import load_state_dict, read_metadata

Record = Mapping[str, Any]
VAL_KEYS = ("psnr15", "psnr25", "psnr50")  # the validation log's columns (restora.train.validate)


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


def stage_compute(record: Record, step: int) -> dict[str, float]:
    """Hours of one stage up to ``step``: wall (and CPU, and wall with redone steps) where restora train
    counted them, else pro rata of the run's logged time."""
    if "compute" in record:
        before = record.get("compute_before", {})
        c = {k: v - before.get(k, 0.0) for k, v in record["compute"].items()}  # this stage's own
        return {"wall": c["wall_seconds"] / 3600, "cpu": c["cpu_seconds"] / 3600,
                "spent": record.get("spent_wall_seconds", c["wall_seconds"]) / 3600}
    first = record.get("first_step", 0)
    return {"wall": record["seconds"] / 3600 * (step - first) / (record["step"] - first)}


def stage_end(records: Sequence[Record], k: int, final_step: int) -> int:
    """The last step of stage ``k`` that the next stage (or the weights) continued from."""
    return final_step if k == len(records) - 1 else records[k + 1]["first_step"]


def spans(records: Sequence[Record], final_step: int) -> list[Span]:
    """The stages' spans of steps, hours and crops, cumulative."""
    out, hours, crops = [], 0.0, 0.0
    for k, record in enumerate(records):
        begin, end = record.get("first_step", 0), stage_end(records, k, final_step)
        own = stage_compute(record, end)["wall"]
        out.append(Span(begin, end, hours, own, crops, record["config"]["batch_size"]))
        hours, crops = hours + own, crops + (end - begin) * record["config"]["batch_size"]
    return out


def stage_weights(record: Record) -> str:
    """The weights file a training stage was exported to (restora-<run folder>.safetensors)."""
    return f"restora-{Path(record['config']['out']).name}.safetensors"


def stages_table(records: Sequence[Record], final_step: int) -> str:
    """One row per stage: steps, run, start, schedule, hours (wall, CPU, wall with redone steps), loss."""
    out = []
    for k, record in enumerate(records):
        c, end = record["config"], stage_end(records, k, final_step)
        hours = stage_compute(record, end)
        annealed = "annealed" if end >= c["steps"] else f"stopped at {end}, not annealed"
        out.append([f"{record.get('first_step', 0)}-{end}", f"`{c['out']}`",
                    "previous stage's EMA weights" if k else "scratch",
                    f"cosine to {c['min_lr_ratio']}x lr {c['lr']} at step {c['steps']}, {annealed}"
                    + (", bf16 autocast" if record["machine"].get("bf16_autocast") else ""),
                    f"{hours['wall']:.2f}", f"{hours['cpu']:.2f}" if "cpu" in hours else "-",
                    f"{hours['spent']:.2f}" if "spent" in hours else "-",
                    f"{record['final_loss']:.3f} (step {record['step']})"])
    return markdown(["steps", "run", "from", "learning rate", "wall h", "CPU h", "wall h with redone steps",
                     "training loss"], "|:--|:--|:--|:--|---:|---:|---:|---:|", out)


def train_command(cfg: Mapping[str, Any], step: int, init_from: str | None = None) -> str:
    """The training command of one stage (resumable with --resume)."""
    start = f" --init-from {init_from}" if init_from else f" --model {cfg['model']}"
    data = f"--kernels {cfg['kernels']}" if cfg.get("kernels") else \
        f"--data {' --data '.join(cfg['data'])}"
    shape = f"--lr {cfg['lr']} --warmup {cfg['warmup']}" if cfg.get("kernels") else \
        f"--crop {cfg['crop']} --lr {cfg['lr']}"
    return (f"restora train {data} --out {cfg['out']}{start} --steps {cfg['steps']} --stop-at {step} "
            f"--batch-size {cfg['batch_size']} {shape} --seed {cfg['seed']} --threads {cfg['threads']}")


def commands_block(records: Sequence[Record], final_step: int, weights: str,
                   shipped: Mapping[str, Path], earlier: Mapping[str, str]) -> str:
    """The commands that reproduce the weights: each stage from the previous stage's file (shipped, or
    from the commit in ``earlier`` that last shipped it), the export, the stored solver settings."""
    lines = []
    for k, record in enumerate(records):
        start = None
        if k:
            start = stage_weights(records[k - 1])
            if start in shipped:
                start = str(shipped[start])
            else:
                lines.append(f"git show {earlier[start]}:src/restora/weights/{start} > {start}")
        lines.append(train_command(record["config"], stage_end(records, k, final_step), start))
    out = records[-1]["config"]["out"]
    lines += [f"restora train --export {out}/checkpoint.pt src/restora/weights/{weights}",
              f"restora train --export src/restora/weights/{weights} src/restora/weights/{weights} "
              "--solver-settings benchmarks/settings.json"]
    return "```\n" + "\n".join(lines) + "\n```"


def validation_table(records: Sequence[Record], final_step: int, name: str,
                     measured: Mapping[str, float]) -> str:
    """The runs' validation logs against cumulative hours and crops seen, and the weights' own row."""
    out, all_spans = [], spans(records, final_step)
    for record, span in zip(records, all_spans, strict=True):
        run = Path(record["config"]["out"]).name
        out += [[f"`{run}` step {row['step']} (log)", f"{span.hours_at(row['step']):.2f}",
                 f"{span.crops_at(row['step']):.0f}", *(f"{row[k]:.2f}" for k in VAL_KEYS)]
                for row in record["val"] if row["step"] <= span.end]
    last = all_spans[-1]
    out.append([f"**{name} (step {final_step})**", f"{last.hours_at(last.end):.2f}",
                f"{last.crops_at(last.end):.0f}", *(f"{measured[k]:.2f}" for k in VAL_KEYS)])
    return markdown(["weights", "training hours (cumulative)", "crops seen", "sigma 15", "sigma 25",
                     "sigma 50"], "|:--|---:|---:|---:|---:|---:|", out)


def crops_to_gain(crops: float, gain: float, per_doubling: float) -> float:
    """The crops seen in all that a log-linear trend (``per_doubling`` dB per doubling, > 0) needs to add
    ``gain`` dB to what ``crops`` reached."""
    return crops * 2 ** (gain / per_doubling)


def averaging_limit(one: float, mean: float, samples: int) -> float:
    """PSNR that the average of infinitely many draws would reach, from one draw's and the mean of
    ``samples`` draws' PSNR, with MSE(mean of S) = bias + spread / S (draws independent given y)."""
    mse_one, mse_mean = 10 ** (-one / 10), 10 ** (-mean / 10)
    bias = (samples * mse_mean - mse_one) / (samples - 1)
    return -10 * math.log10(bias) if bias > 0 else math.inf


def reach(now: float, target: float, slope: float, crops: float, rate: float,
          digits: tuple[int, int] = (1, 0)) -> tuple[str, str]:
    """(crops in all, in millions, and hours more at ``rate`` crops per hour, to ``digits``) that a trend of
    ``slope`` dB per doubling needs from ``now`` at ``crops`` to ``target``."""
    if now >= target:
        return "reached", "-"
    if slope <= 0:
        return "not rising", "-"
    total = crops_to_gain(crops, target - now, slope)
    return f"{total / 1e6:,.{digits[0]}f} M", f"{(total - crops) / rate:,.{digits[1]}f}"


def test_curve_table(all_spans: Sequence[Span], names: Sequence[str], psnr: Sequence[float]) -> str:
    """The test-set PSNR of each stage's weights against cumulative hours and crops seen."""
    return markdown(["weights", "training hours (cumulative)", "crops seen", "PSNR (dB)"],
                    "|:--|---:|---:|---:|",
                    ([f"`{n}`", f"{s.hours_at(s.end):.2f}", f"{s.crops_at(s.end):.0f}", f"{p:.2f}"]
                     for s, n, p in zip(all_spans, names, psnr, strict=True)))


def test_trend_table(all_spans: Sequence[Span], psnr: Sequence[float], gain: float) -> str:
    """A least-squares line of PSNR against log2(crops seen), and the crops it needs for ``gain`` dB over
    the first weights."""
    xs = [math.log2(s.crops_at(s.end)) for s in all_spans]
    slope = statistics.linear_regression(xs, list(psnr)).slope
    last, target = all_spans[-1], psnr[0] + gain
    needed, more = reach(psnr[-1], target, slope, last.crops_at(last.end), last.crops_per_hour(), (2, 1))
    return markdown(["dB per doubling of the crops", f"target (first + {gain} dB)", "now", "crops in all",
                     "hours more at the last stage's speed"], "|---:|---:|---:|---:|---:|",
                    [[f"{slope:+.2f}", f"{target:.2f}", f"{psnr[-1]:.2f}", needed, more]])


def box_table(rows: Sequence[tuple[str, Record]]) -> str:
    """(weights, row) pairs of a task: PSNR and SSIM per method."""
    return markdown(["task", "weights", "method", "PSNR (dB)", "SSIM"], "|:--|:--|:--|---:|---:|",
                    ([r["task"], "-" if r["method"] == "classical" else name, r["method"], f"{r['psnr']:.2f}",
                      f"{r['ssim']:.3f}"] for name, r in rows))


def box_trend_table(now: Mapping[str, float], then: Mapping[str, float], names: tuple[str, str],
                    methods: tuple[str, str], samples: int, two: Sequence[Span]) -> str:
    """PSNR per doubling of the crops seen between two versions for one draw, the mean of ``samples`` and
    their averaging limit, and the crops (and hours at the last stage's speed) to reach the baseline."""
    crops = [s.crops_at(s.end) for s in two]
    doublings, rate = math.log2(crops[1] / crops[0]), two[1].crops_per_hour()
    one, mean = methods
    estimates = {"one draw": (then[one], now[one]), f"mean of {samples}": (then[mean], now[mean]),
                 "average of infinitely many (fit)": (averaging_limit(then[one], then[mean], samples),
                                                      averaging_limit(now[one], now[mean], samples))}
    out = []
    for label, (before, after) in estimates.items():
        slope = (after - before) / doublings
        needed, more = reach(after, now["classical"], slope, crops[1], rate)
        out.append([label, f"{before:.2f}", f"{after:.2f}", f"{slope:+.3f}", needed, more])
    return markdown(["DiffPIR estimate", *names, "dB per doubling",
                     f"crops to reach the classical fill ({now['classical']:.2f} dB)",
                     "hours more at the last stage's speed"], "|:--|---:|---:|---:|---:|---:|", out)


def kernel_card_tables(stage: Record, weights: Path, root: Path) -> dict[str, Callable[[], str]]:
    """The kernel prior's card tables: facts, its one training run, the commands, the validation log on
    held-out random kernels (the run's last entry is the exported EMA weights)."""
    step, cfg = int(read_metadata(weights)["train_steps"]), stage["config"]
    span = spans([stage], step)[0]
    params = sum(v.numel() for v in load_state_dict(weights).values())
    export = f"restora train --export {cfg['out']}/checkpoint.pt {weights.relative_to(root)}"
    return {
        "kcard:facts": lambda: markdown(
            ["parameters", "file", "steps", "kernels seen", "training hours", "threads"],
            "|---:|---:|---:|---:|---:|---:|",
            [[f"{params / 1e6:.2f} M", f"{weights.stat().st_size / 2**20:.1f} MiB", step,
              f"{span.crops_at(step):.0f}", f"{span.hours_at(step):.2f}", cfg["threads"]]]),
        "kcard:stages": lambda: stages_table([stage], step),
        "kcard:commands": lambda: f"```\n{train_command(cfg, step)}\n{export}\n```",
        "kcard:validation": lambda: validation_table([stage], step, weights.stem, stage["val"][-1]),
    }
