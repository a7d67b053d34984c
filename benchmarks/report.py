"""Fill the generated tables of docs/results.md, docs/peers.md, docs/performance.md and the bundled prior's
model card from the records in benchmarks/results (see benchmarks/suite.toml for the command behind each).

    python benchmarks/report.py              # rewrite the tables in place
    python benchmarks/report.py --check      # exit 1 if a document's tables differ from the records
    python benchmarks/report.py --run runs/natural-v3   # first refresh a training stage's record

The documents are hand-written Markdown; only the blocks between ``<!-- table NAME -->`` and
``<!-- end NAME -->`` are generated (:mod:`restora.experiments.documents`), each from records that a
step of the suite writes (or a frozen one); a table that reads anything else is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from restora.experiments import bench_tables as bt
from restora.experiments import cards
from restora.experiments import nfe_tables as nt
from restora.experiments import tables as t
from restora.experiments.documents import fill
from restora.experiments.records import write_json
from restora.experiments.suite import load_suite
from restora.experiments.training import training_summary
from restora.priors.loaders import load_state_dict, read_metadata
from restora.priors.registry import BUNDLED_FILE, KERNEL_FILE

BENCH = Path(__file__).resolve().parent
ROOT, RESULTS = BENCH.parent, BENCH / "results"
SUITE = load_suite(BENCH / "suite.toml")
WEIGHTS = ROOT / "src" / "restora" / "weights" / BUNDLED_FILE
KERNEL_WEIGHTS, KERNEL_STAGE = WEIGHTS.parent / KERNEL_FILE, "training-kernel-v1.json"
STAGES = [f"training-natural-v{n}.json" for n in (1, 2, 3)]  # the stages that made the bundled weights
# Published CBM3D PSNR on CBSD68 (Zhang et al., "Beyond a Gaussian Denoiser", TIP 2017, Table III).
CBM3D_PUBLISHED = {"15": 33.52, "25": 30.71, "50": 27.38}
TARGET_GAIN = 0.7  # dB at sigma 25 on all of CBSD68 over the first shipped prior (the prior-v2 issue)
STRONG, COMPOSITE = "dpir@ffdnet-color", "diffpir@default+ffdnet-color"

Tables = dict[str, Callable[[], str]]


def record(name: str) -> dict:
    """benchmarks/results/NAME (a folder's results.json, or a JSON file), which the suite must list."""
    path = RESULTS / name
    if not SUITE.known(path):
        raise SystemExit(f"report: {path} is neither written by a step of benchmarks/suite.toml nor frozen")
    return json.loads((path / "results.json" if path.is_dir() else path).read_text())


def rows(name: str) -> list[dict]:
    return record(name)["rows"]


def same_machine(*folders: str) -> bool:
    """Whether the records were measured on one processor with one thread count (timings comparable)."""
    envs = {(e["processor"], e["threads"]) for e in (record(f)["meta"]["environment"] for f in folders)}
    return len(envs) == 1


def quality_blocks(folder: str, images: str = "CBSD68 centre crops") -> Tables:
    """The caption, table and best-minus-baseline table of a quality.py / medical.py record."""
    meta = record(folder)["meta"]
    classical = meta.get("classical", {})
    return {f"{folder}:setup": lambda: t.measured_caption(meta, images),
            folder: lambda: t.quality_table(rows(folder)),
            f"{folder}:margins": lambda: t.margins_table(rows(folder),
                                                         lambda task: classical.get(task, "classical"))}


def results_tables() -> Tables:
    den, medical, split = record("denoise"), record("medical"), record("split")
    published = {"CBSD68": {"ffdnet-color vs FFDNet (TIP 2018)": den["meta"]["published_ffdnet"]["CBSD68"],
                            "ffdnet-original vs FFDNet (TIP 2018)": den["meta"]["published_ffdnet"]["CBSD68"],
                            "default vs CBM3D (TIP 2017)": CBM3D_PUBLISHED},
                 "Set12": {"ffdnet-gray vs FFDNet (TIP 2018)": den["meta"]["published_ffdnet"]["Set12"]}}
    truth_misfit = medical["meta"]["phase_misfit_of_truth"]
    main, samples = rows("quality-lownoise"), record("quality-lownoise")["meta"]["samples"]
    settings = json.loads((BENCH / "settings.json").read_text())
    return {
        "denoise": lambda: t.denoise_table(den["rows"]),
        "denoise:published": lambda: t.published_gaps_table(den["rows"], published),
        **quality_blocks("quality-lownoise"), **quality_blocks("quality-lownoise-s001"),
        **quality_blocks("quality-solvers"), **quality_blocks("quality-diffpir-nfe100"),
        **quality_blocks("medical", "Set12 centre crops and the Shepp-Logan phantom,"),
        "quality-perception:setup": lambda: t.measured_caption(record("quality-perception")["meta"]),
        "perception": lambda: t.perception_table(rows("quality-perception"), main),
        "composite-gap": lambda: t.averaging_gap_table(main, COMPOSITE, STRONG, samples),
        "levin-lam16": lambda: t.later_minus_earlier(rows("quality-levin-lam16"),
                                                     [r for r in main if r["task"] == "deblur-levin"],
                                                     lambda m: f"{m}:lam=16"),
        "precision": lambda: t.precision_table(main, rows("quality-lownoise-bf16"),
                                               same_machine("quality-lownoise", "quality-lownoise-bf16")),
        "nfe100": lambda: t.later_minus_earlier(rows("quality-diffpir-nfe100"), main,
                                                lambda m: m.replace("diffpir@default", "diffpir")),
        "split:denoise": lambda: t.split_denoise_table(split["denoise"], ["default", "ffdnet-color"]),
        "split:diffpir": lambda: t.split_table(split["diffpir"]),
        "phase-draws": lambda: t.per_image_table(medical["rows"], medical["meta"]["images"],
                                                 "phase-retrieval", "HIO", truth_misfit),
        "noise-level": lambda: t.noise_level_table(rows("noise-level")),
        "blind": lambda: t.blind_tables(rows("blind"))[0],
        "blind:kernels": lambda: t.blind_tables(rows("blind"))[1],
        "blind-shakes": lambda: t.blind_tables(rows("blind-shakes"))[0],
        "blind-shakes:kernels": lambda: t.blind_tables(rows("blind-shakes"))[1],
        "blind-photos": lambda: t.blind_photos_table(rows("blind-photos"),
                                                     record("blind-photos")["meta"]["noise_sigma"]),
        **nt.nfe_blocks(record("nfe")),
        "settings": lambda: t.settings_block(settings),
        "composite-tuning": lambda: t.own_tuning_table(
            record("split/tuned-composite.json")["_tuning"]["trials"], settings["diffpir"]),
    }


def peers_tables() -> Tables:
    peers, official = record("peers/results.json"), record("peers/official.json")
    pairs = [("restora diffpir", "deepinv DiffPIR"),
             ("restora diffpir clip_x0, official ending", "deepinv DiffPIR"),
             ("restora ddrm", "deepinv DDRM, denoiser told sigma / sqrt(2)")]
    mine = [r["method"] for r in official["rows"] if r["method"] != "official DiffPIR script"]
    return {"peers:setup": lambda: t.seeds_caption(peers["meta"]),
            "official:setup": lambda: t.script_caption(official["meta"], official["speed"]),
            "peers": lambda: t.seeds_table(peers["rows"]),
            "peers:differences": lambda: t.differences_table(peers["rows"], pairs),
            "official": lambda: t.seeds_table(official["rows"], per_task=False, seconds=False),
            "official:differences": lambda: t.differences_table(
                official["rows"], [(m, "official DiffPIR script") for m in mine]),
            "official:speed": lambda: t.speed_table(official["speed"]),
            "official:equal-psnr": lambda: nt.equal_psnr_table(official["equal_psnr"])}


def bench(*groups: str, columns: bool = True, gflop: float | None = None) -> str:
    data = {g: record(f"performance/{g}.json") for g in groups}
    return bt.bench_table(bt.group_rows(data), bt.RUNTIME_COLUMNS if columns else None, gflop)


def performance_tables() -> Tables:
    extra, default = record("performance/extra.json"), record("performance/cpu-default.json")
    gflop = extra["gflop_per_image_nfe"]["default"]
    dtype = "bf16" if default["results"][0]["dtype"] == "bf16" else "fp32"
    variants = {"fp32 NCHW": "cpu-fp32", "fp32 channels_last": "cpu-channels-last", "bf16 NCHW": "cpu-bf16",
                f"{dtype} + channels_last (the default here)": "cpu-default",
                "default + torch.compile": "cpu-compile", "default, 1 thread": "cpu-1-thread"}
    return {
        "performance:machine": lambda: bt.machine_caption(default, gflop),
        "bench:overhead": lambda: bench("cpu-overhead", columns=False, gflop=gflop),
        "bench:batch": lambda: bench("cpu-batch", columns=False, gflop=gflop),
        "bench:knobs": lambda: bench(*variants.values(), gflop=gflop),
        "bench:memory": lambda: bench("cpu-512-whole", "cpu-1024-whole", "cpu-1024-tiled", "cpu-2048-tiled",
                                      gflop=gflop),
        "naive": lambda: bt.naive_table(extra["naive"]),
        "gpu": lambda: bt.gpu_tables({p.stem: record(f"performance/{p.name}")
                                      for p in sorted((RESULTS / "performance").glob("gpu-*.json"))}),
        "compile": lambda: nt.compile_table(record("performance/compile.json")),
        "runtime-choice": lambda: bt.runtime_choice_table(
            {k: record(f"performance/{g}.json") for k, g in variants.items()}),
    }


def card_tables() -> Tables:
    stages, meta = [record(name) for name in STAGES], read_metadata(WEIGHTS)
    step, earlier = int(meta["train_steps"]), record("earlier-priors.json")["priors"]
    spans = cards.spans(stages, step)
    names = [cards.stage_weights(s).removesuffix(".safetensors") for s in stages]
    shipped = next(r["psnr25"] for r in rows("denoise") if r["method"] == "default" and r["images"] == 68)
    cbsd = [earlier[n]["denoise_cbsd68"]["psnr25"] if n in earlier else shipped for n in names]
    main, before = record("quality-lownoise"), earlier[names[-2]]["main_table"]
    n = main["meta"]["samples"]
    diffpir = ("diffpir@default", f"diffpir@default mean of {n}")
    box = [(names[-1], r) for r in main["rows"]
           if r["task"] == "inpaint-box" and r["method"] in ("classical", *diffpir)]
    box += [(names[-2], r) for r in before["rows"] if r["method"] in diffpir]
    now = {r["method"]: r["psnr"] for name, r in box if name == names[-1]}
    then = {r["method"]: r["psnr"] for name, r in box if name == names[-2]}
    params = sum(v.numel() for v in load_state_dict(WEIGHTS).values())
    return {
        "card:facts": lambda: t.markdown(
            ["parameters", "file", "steps", "crops seen", "training hours", "stored solver settings"],
            "|---:|---:|---:|---:|---:|:--|",
            [[f"{params / 1e6:.2f} M", f"{WEIGHTS.stat().st_size / 2**20:.1f} MiB", step,
              f"{spans[-1].crops_at(step):.0f}", f"{spans[-1].hours_at(step):.2f}",
              f"`{meta.get('solver_settings', 'none')}`"]]),
        "card:stages": lambda: cards.stages_table(stages, step),
        "card:commands": lambda: cards.commands_block(
            stages, step, WEIGHTS.name, {WEIGHTS.name: WEIGHTS.relative_to(ROOT)},
            {f"{k}.safetensors": v["commit"] for k, v in earlier.items()}),
        "card:validation": lambda: cards.validation_table(stages, step, WEIGHTS.stem,
                                                          record("validation")["psnr"]),
        "card:test-curve": lambda: cards.test_curve_table(spans, names, cbsd),
        "card:test-trend": lambda: cards.test_trend_table(spans, cbsd, TARGET_GAIN),
        "card:box": lambda: cards.box_table(box),
        "card:box-limit": lambda: (
            f"Average of infinitely many draws (fit to the one-draw and mean-of-{n} rows): "
            f"{cards.averaging_limit(now[diffpir[0]], now[diffpir[1]], n):.2f} dB, classical fill "
            f"{now['classical']:.2f} dB."),
        "card:box-trend": lambda: cards.box_trend_table(now, then, (names[-2], names[-1]), diffpir, n,
                                                        spans[-2:]),
    }


def kernel_card_tables() -> Tables:
    return cards.kernel_card_tables(record(KERNEL_STAGE), KERNEL_WEIGHTS, ROOT)


DOCUMENTS = {ROOT / "docs" / "results.md": results_tables, ROOT / "docs" / "peers.md": peers_tables,
             ROOT / "docs" / "performance.md": performance_tables, WEIGHTS.with_suffix(".md"): card_tables,
             KERNEL_WEIGHTS.with_suffix(".md"): kernel_card_tables}


def refresh_record(run: Path) -> None:
    """Rewrite a stage's record (benchmarks/results/training-<run folder>.json) from its run folder; a note
    written by hand (e.g. how the run was interrupted) stays."""
    path = RESULTS / f"training-{run.name}.json"
    summary = training_summary(run, ROOT)
    if path.exists() and (note := json.loads(path.read_text()).get("_note")):
        summary["_note"] = note
    write_json(path, summary)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a document is stale")
    p.add_argument("--run", action="append", default=[], type=Path,
                   help="a training run folder (repeatable): refresh that stage's record first")
    args = p.parse_args(argv)
    for run in args.run:
        refresh_record(run if run.is_absolute() else ROOT / run)
    stale = []
    for path, tables in DOCUMENTS.items():
        text = path.read_text()
        new = fill(text, tables())
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new)
    verb = "stale" if args.check else "rewrote"
    print(f"{verb}: {', '.join(map(str, stale))}" if stale else "every document matches its records")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
