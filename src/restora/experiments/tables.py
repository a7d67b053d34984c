"""Markdown tables from result records: what documents are filled with (:mod:`.documents`). Every
number a table shows is read from a record; nothing here measures."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from statistics import fmean
from typing import Any

Row = Mapping[str, Any]


def markdown(header: Sequence[str], rule: str, rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table: ``rule`` is its separator line (it sets the alignment)."""
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(str(c) for c in cells) + " |" for cells in rows]
    return "\n".join(lines)


def best_per_task(rows: Iterable[Row]) -> dict[str, float]:
    best: dict[str, float] = {}
    for r in rows:
        best[r["task"]] = max(best.get(r["task"], -math.inf), r["psnr"])
    return best


def quality_table(rows: Sequence[Row]) -> str:
    """PSNR / SSIM (/ LPIPS-alex / DISTS where the rows have them) / NFE / seconds, one row per task and
    method, best PSNR per task in bold."""
    best = best_per_task(rows)
    perceptual = any("lpips" in r for r in rows)

    def cells(r: Row) -> list[Any]:
        p = f"{r['psnr']:.2f}"
        ssim = "n/a" if r["ssim"] is None else f"{r['ssim']:.4f}"
        extra = [f"{r[k]:.4f}" if r.get(k) is not None else "n/a" for k in ("lpips", "dists")] if perceptual \
            else []
        return [r["task"], r["method"], f"**{p}**" if r["psnr"] == best[r["task"]] else p, ssim, *extra,
                r["nfe"], r["seconds_per_image"]]

    head = ["task", "method", "PSNR (dB)", "SSIM", *(["LPIPS-alex", "DISTS"] if perceptual else []), "NFE",
            "s / image"]
    return markdown(head, "|" + "---|" * len(head), map(cells, rows))


def margins_table(rows: Sequence[Row], baseline: Callable[[str], str] = lambda task: "classical") -> str:
    """Per task: the best method and its PSNR minus the classical baseline's."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        base = next(r for r in rows if r["task"] == task and r["method"] == baseline(task))
        methods = [r for r in rows if r["task"] == task and r is not base]
        if methods:
            top = max(methods, key=lambda r: r["psnr"])
            out.append([task, base["method"], f"{base['psnr']:.2f}", top["method"], f"{top['psnr']:.2f}",
                        f"{top['psnr'] - base['psnr']:+.2f}"])
    return markdown(["task", "baseline", "PSNR (dB)", "best method", "PSNR (dB)", "gain (dB)"],
                    "|:--|:--|---:|:--|---:|---:|", out)


def denoise_table(rows: Sequence[Row], sigmas: Sequence[int] = (15, 25, 50)) -> str:
    """Denoising PSNR per sigma (0-255 scale), one row per data set, method and image subset."""
    def cells(r: Row) -> list[Any]:
        t = "" if r["seconds_per_image"] is None else f"{r['seconds_per_image']:.2f}"
        scores = [f"{v:.2f}" if v == v else "beyond range" for v in (r[f"psnr{s}"] for s in sigmas)]
        return [r["dataset"], r["method"], r["images"], *scores, t]

    return markdown(["data set", "method", "images", *(f"sigma {s}" for s in sigmas), "s / image"],
                    "|---|---|---:|" + "---:|" * len(sigmas) + "---:|", map(cells, rows))


def published_gaps_table(rows: Sequence[Row], published: Mapping[str, Mapping[str, Mapping]],
                         sigmas: Sequence[int] = (15, 25, 50)) -> str:
    """Measured minus published denoising PSNR: ``published[dataset][method-or-label] = {sigma: dB}``,
    each compared with the all-images row of the method of the same name."""
    out = []
    for dataset, methods in published.items():
        for name, values in methods.items():
            method, _, source = name.partition(" vs ")
            row = next((r for r in rows if r["dataset"] == dataset and r["method"] == method
                        and r["seconds_per_image"] is not None), None)
            if row is not None:
                out.append([dataset, method, source, *(f"{row[f'psnr{s}'] - values[str(s)]:+.2f}"
                                                      for s in sigmas)])
    return markdown(["data set", "measured", "published", *(f"sigma {s}" for s in sigmas)],
                    "|:--|:--|:--|" + "---:|" * len(sigmas), out)


def precision_table(fp32: Sequence[Row], bf16: Sequence[Row], same_machine: bool = True) -> str:
    """bf16 against fp32 for the rows both runs have: PSNR of each, the difference and the speed-up (only
    when both runs had the same processor and threads: a ratio across machines measures the machines)."""
    mine = {(r["task"], r["method"]): r for r in fp32}
    out = []
    for b in bf16:
        f = mine.get((b["task"], b["method"]))
        if f is None or b["method"] == "classical":
            continue
        speed = f["seconds_per_image"] / b["seconds_per_image"] if b["seconds_per_image"] else math.nan
        out.append([b["task"], b["method"], f"{f['psnr']:.2f}", f"{b['psnr']:.2f}",
                    f"{b['psnr'] - f['psnr']:+.2f}", f"{speed:.1f}x" if same_machine else "other machine"])
    return markdown(["task", "method", "PSNR fp32", "PSNR bf16", "bf16 - fp32 (dB)", "speed-up"],
                    "|---|---|---:|---:|---:|---:|", out)


def split_denoise_table(levels: Sequence[Row], priors: Sequence[str]) -> str:
    """Denoising PSNR of each prior (rows) at each noise level (columns, 0-255 scale)."""
    return markdown(["sigma", *(str(r["sigma_255"]) for r in levels)], "|:--|" + "---:|" * len(levels),
                    ([name, *(f"{r[name]:.2f}" for r in levels)] for name in priors))


def split_table(rows: Sequence[Row]) -> str:
    """PSNR per task (rows) and split (columns), the best split per task in bold."""
    splits = list(dict.fromkeys(r["split"] for r in rows))
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        cells = [next(r["psnr"] for r in rows if r["task"] == task and r["split"] == s) for s in splits]
        out.append([task, *(f"**{c:.2f}**" if c == max(cells) else f"{c:.2f}" for c in cells)])
    return markdown(["task", *(f"{s:.3g}" for s in splits)], "|:--|" + "---:|" * len(splits), out)


def later_minus_earlier(later: Sequence[Row], earlier: Sequence[Row], rename: Callable[[str], str]) -> str:
    """PSNR of ``later``'s rows minus ``earlier``'s for the same task and method (``rename`` maps an
    earlier method label to the later run's)."""
    before = {(r["task"], rename(r["method"])): r for r in earlier}
    out = [[r["task"], r["method"], f"{b['nfe']} -> {r['nfe']}", f"{b['psnr']:.2f}", f"{r['psnr']:.2f}",
            f"{r['psnr'] - b['psnr']:+.2f}"]
           for r in later if r["method"] != "classical" and (b := before.get((r["task"], r["method"])))]
    return markdown(["task", "method", "NFE", "PSNR before (dB)", "PSNR now (dB)", "difference (dB)"],
                    "|:--|:--|:--|---:|---:|---:|", out)


def per_image_table(rows: Sequence[Row], images: Sequence[str], task: str, baseline: str,
                    truth_misfit: Sequence[float]) -> str:
    """Image by image, each solver's PSNR and measurement misfit next to the baseline's and the truth's
    (whose misfit is the noise alone): whether a method that loses still fits the data."""
    base = next(r for r in rows if r["task"] == task and r["method"] == baseline)
    out = []
    for r in rows:
        if r["task"] != task or r is base or "misfit_per_image" not in r:
            continue
        for k, name in enumerate(images):
            out.append([r["method"], name, f"{r['psnr_per_image'][k]:.2f}",
                        f"{base['psnr_per_image'][k]:.2f}", f"{r['misfit_per_image'][k]:.3f}",
                        f"{base['misfit_per_image'][k]:.3f}", f"{truth_misfit[k]:.3f}"])
    return markdown(["method", "image", "PSNR (dB)", f"{baseline} PSNR", "misfit", f"{baseline} misfit",
                     "truth's misfit"], "|:--|:--|---:|---:|---:|---:|---:|", out)


def settings_block(settings: Mapping[str, Any]) -> str:
    """The tuned settings record without its tuning log, as a JSON code block."""
    shown = {k: v for k, v in settings.items() if not k.startswith("_")}
    return "```json\n" + json.dumps(shown, indent=2) + "\n```"


def seeds_table(rows: Sequence[Row], per_task: bool = True, seconds: bool = True) -> str:
    """Rows of seed means: (task,) method, PSNR, its standard error, SSIM (and seconds per image)."""
    head = [*(["task"] if per_task else []), "method", "PSNR (dB), mean of seeds", "+- s.e.", "SSIM",
            *(["s / image"] if seconds else [])]
    rule = "|" + "---|" * (1 + per_task) + "---:|" * (3 + seconds)
    return markdown(head, rule, ([*([r["task"]] if per_task else []), r["method"], f"{r['psnr']:.2f}",
                                  f"{r['psnr_sem']:.2f}", f"{r['ssim']:.4f}",
                                  *([f"{r['seconds_per_image']:.1f}"] if seconds else [])] for r in rows))


def differences_table(rows: Sequence[Row], pairs: Sequence[tuple[str, str]]) -> str:
    """``ours`` minus ``theirs`` per task for rows of seed means, with the standard error of the
    difference."""
    score = {(r.get("task", ""), r["method"]): r for r in rows}
    out = []
    for task in dict.fromkeys(r.get("task", "") for r in rows):
        for ours, theirs in pairs:
            mine, peer = score.get((task, ours)), score.get((task, theirs))
            if mine and peer:
                err = (mine["psnr_sem"] ** 2 + peer["psnr_sem"] ** 2) ** 0.5
                out.append([*([task] if task else []), ours, theirs, f"{mine['psnr'] - peer['psnr']:+.2f}",
                            f"{err:.2f}"])
    head = ["task"] if any(r.get("task") for r in rows) else []
    return markdown([*head, "method", "minus", "difference (dB)", "s.e. of the difference"],
                    "|" + ":--|" * (len(head) + 2) + "---:|---:|", out)


def runtime_label(row: Row) -> str:
    """'fp32 + channels_last' and the like; rows without a runtime ran fp32 NCHW."""
    runtime = row.get("runtime", {"dtype": "fp32", "channels_last": False})
    return runtime["dtype"] + (" + channels_last" if runtime["channels_last"] else " NCHW")


def speed_table(rows: Sequence[Row]) -> str:
    """Seconds per image of each loop and runtime, and the speed-up over the first."""
    return markdown(["loop", "network runtime", "s / image", "speed-up"], "|---|---|---:|---:|",
                    ([r["method"], runtime_label(r), f"{r['seconds_per_image']:.1f}",
                      f"{r.get('speedup_vs_official', 1.0):.2f}x"] for r in rows))


def runtime_text(meta: Mapping[str, Any]) -> str:
    """'fp32 + channels_last' for the priors' runtimes a record kept (empty where it kept none)."""
    runtime = meta.get("runtime", {})
    if "dtype" in runtime:  # records written before the runtime was kept per prior
        runtime = {"prior": runtime}
    return ", ".join(sorted({f"{r['dtype']}{' + channels_last' if r['channels_last'] else ''}"
                             for r in runtime.values()}))


def measured_caption(meta: Mapping[str, Any], images: str = "CBSD68 centre crops") -> str:
    """How a quality record was measured, in one line: images, crop size, noise (on its scale and on
    [0, 1]), processor, threads and the priors' runtime."""
    env = meta["environment"]
    runtime = runtime_text(meta)
    return (f"*Measured*: {images} {meta['size']}x{meta['size']} of {len(meta['images'])} images "
            f"({', '.join(meta['images'])}); sigma_y = {meta['sigma_y']} on the **{meta['sigma_y_scale']} "
            f"scale** (= {meta['sigma_y'] / 2 * 255:.2f}/255 on [0, 1]); "
            f"{env['processor'] or env['machine']}, {env['threads']} thread(s)"
            + (f"; priors in {runtime}" if runtime else "")
            + f"; bundled prior {env.get('bundled_prior', 'before v3')}.")


def averaging_gap_table(rows: Sequence[Row], sampler: str, reference: str, samples: int) -> str:
    """Per task: one draw of ``sampler`` and the mean of ``samples`` draws against ``reference``, and what
    the average of infinitely many draws would reach (bias + spread / S fitted to the two rows)."""
    from restora.experiments.cards import averaging_limit

    s, mean = {(r["task"], r["method"]): r["psnr"] for r in rows}, f"{sampler} mean of {samples}"
    out = [[task, f"{s[task, sampler] - s[task, reference]:+.2f}", f"{s[task, mean] - s[task, sampler]:+.2f}",
            f"{averaging_limit(s[task, sampler], s[task, mean], samples) - s[task, reference]:+.2f}"]
           for task in dict.fromkeys(r["task"] for r in rows) if (task, mean) in s and (task, reference) in s]
    return markdown(["task", f"one draw minus {reference}", f"mean of {samples} minus one draw",
                     f"infinitely many draws (fit) minus {reference}"], "|:--|---:|---:|---:|", out)


TRIAL_SCORES = ("solver", "family", "task", "psnr")  # a tuning trial's other keys are its settings


def own_tuning_table(trials: Sequence[Row], chosen: Mapping[str, Mapping[str, Any]]) -> str:
    """Per family of a tuning log: the PSNR of the settings in use (``chosen[family]``) against the best
    of the grid, each the mean over the family's tasks."""
    out = []
    for family in dict.fromkeys(x["family"] for x in trials):
        by: dict[tuple, list[float]] = {}
        for trial in (x for x in trials if x["family"] == family):
            key = tuple(sorted((k, v) for k, v in trial.items() if k not in TRIAL_SCORES))
            by.setdefault(key, []).append(trial["psnr"])
        mean = {key: sum(v) / len(v) for key, v in by.items()}
        same = next(p for key, p in mean.items() if all(dict(key)[k] == v for k, v in chosen[family].items()))
        out.append([family, json.dumps(chosen[family]), f"{same:.2f}", f"{max(mean.values()):.2f}",
                    f"{max(mean.values()) - same:+.2f}"])
    return markdown(["family", "settings in use", "PSNR with them (dB)", "best of the grid (dB)", "gain"],
                    "|:--|:--|---:|---:|---:|", out)


def seeds_caption(meta: Mapping[str, Any]) -> str:
    """How a peers record was measured: crops, NFE, seeds, noise per task, settings, versions, machine."""
    env, noise = meta["environment"], ", ".join(f"{task} {s}" for task, s in meta["sigma_y"].items())
    return (f"*Measured*: {len(meta['images'])} CBSD68 centre crops of {meta['size']} px "
            f"({', '.join(meta['images'])}), {meta['steps']} NFE, {meta['seeds']} seeds (DPS: "
            f"{meta['dps_steps']} steps on {meta['dps_tasks']}); sigma_y on [-1, 1]: {noise}; DiffPIR "
            f"settings {json.dumps(meta['diffpir_settings'])}; deepinv {meta['deepinv']}; "
            f"{env['processor']}, {env['threads']} thread(s), torch {env['torch']}; bundled prior "
            f"{env['bundled_prior']}.")


def script_caption(meta: Mapping[str, Any], speed: Sequence[Row]) -> str:
    """How the official-script record was measured."""
    env = meta["environment"]
    build = speed[0].get("network_build_seconds", 0) if speed else 0
    return (f"*Measured*: `{meta['script']}`, {meta['nfe']} NFE, {meta['seeds']} seeds, {meta['size']} px"
            + (f"; speed: {speed[0]['nfe']} NFE, the script's network build ({build:.1f} s) not counted"
               if speed else "")
            + f"; {env['processor']}, {env['threads']} thread(s); bundled prior {env['bundled_prior']}.")


def pareto_front(rows: Sequence[Row], higher: str = "psnr", lower: str = "lpips") -> set[int]:
    """Indices of the rows that no other row beats on both axes (``higher`` up, ``lower`` down)."""
    return {i for i, r in enumerate(rows)
            if not any(o[higher] >= r[higher] and o[lower] <= r[lower]
                       and (o[higher], o[lower]) != (r[higher], r[lower]) for o in rows)}


def perception_table(rows: Sequence[Row], extra: Sequence[Row] = ()) -> str:
    """The perception-distortion table: per task every method by PSNR with LPIPS-alex, DISTS and the patch
    KID (x 1000, +- its std over subsets) where measured; 'front' marks the methods no other beats on both
    PSNR and LPIPS; the best LPIPS per task in bold. ``extra``: rows of another record on the same
    measurements (the main table's), added where ``rows`` lack that task and method."""
    seen = {(r["task"], r["method"]) for r in rows}
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    both = [*rows, *(r for r in extra if r["task"] in tasks and (r["task"], r["method"]) not in seen)]
    out = []
    for task in tasks:
        group = sorted((r for r in both if r["task"] == task), key=lambda r: -r["psnr"])
        front, best = pareto_front(group), min(r["lpips"] for r in group)
        for i, r in enumerate(group):
            lp = f"{r['lpips']:.4f}"
            kid = f"{1000 * r['kid']:.1f} +- {1000 * r['kid_std']:.1f}" if "kid" in r else "n/a"
            out.append([task, r["method"], f"{r['psnr']:.2f}", f"**{lp}**" if r["lpips"] == best else lp,
                        f"{r['dists']:.4f}", kid, "yes" if i in front else "", r["nfe"]])
    return markdown(["task", "method", "PSNR (dB)", "LPIPS-alex", "DISTS", "KID x 1000", "front", "NFE"],
                    "|:--|:--|---:|---:|---:|---:|:-:|---:|", out)


def noise_level_table(rows: Sequence[Row]) -> str:
    """Accuracy of the noise-level estimate per task, storage and sigma: bias, mean / largest absolute
    relative error and the share of images within 10 %."""
    out = [[r["task"], r["storage"], r["sigma_255"], f"{100 * r['bias']:+.1f} %",
            f"{100 * r['mean_abs']:.1f} %", f"{100 * r['max_abs']:.1f} %", f"{100 * r['within_10pct']:.0f} %",
            f"{r['seconds']:.2f}"] for r in rows]
    return markdown(["task", "stored as", "sigma (/255)", "bias", "mean abs. error", "largest abs. error",
                     "images within 10 %", "s / estimate"], "|:--|:--|---:|---:|---:|---:|---:|---:|", out)


def blind_tables(rows: Sequence[Row]) -> tuple[str, str]:
    """(summary, per kernel) of a blind-deblurring record: per method the crops it ran on, the mean
    shift-aligned PSNR / SSIM / LPIPS, the mean kernel NCC, NFE and seconds; then per kernel (``levin:3``,
    ``shake:1``) each method's PSNR (mean over the crops it ran on)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    kernels = sorted({r["kernel"] for r in rows}, key=lambda k: (k.split(":")[0], int(k.split(":")[1])))
    summary = []
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        nccs = [r["kernel_ncc"] for r in mine if r["kernel_ncc"] is not None]
        mean = {key: fmean(r[key] for r in mine) for key in ("psnr", "ssim", "lpips", "seconds")}
        summary.append([m, len({r["image"] for r in mine}), f"{mean['psnr']:.2f}", f"{mean['ssim']:.3f}",
                        f"{mean['lpips']:.3f}", f"{fmean(nccs):.3f}" if nccs else "true kernel",
                        mine[0]["nfe"], f"{mean['seconds']:.1f}"])
    psnr = {(k, m): [r["psnr"] for r in rows if (r["kernel"], r["method"]) == (k, m)]
            for k in kernels for m in methods}
    per_kernel = [[k, *(f"{fmean(psnr[k, m]):.2f}" if psnr[k, m] else "-" for m in methods)] for k in kernels]
    return (markdown(["method", "crops", "PSNR (dB, aligned)", "SSIM", "LPIPS", "kernel NCC", "NFE",
                      "s / image"], "|:--|---:|---:|---:|---:|---:|---:|---:|", summary),
            markdown(["kernel", *methods], "|:--|" + "---:|" * len(methods), per_kernel))


def blind_photos_table(rows: Sequence[Row], added: float) -> str:
    """The photos restored blind from a JPEG: per image its size, the noise level estimated from the JPEG
    (the noise ``added`` before compression, on [-1, 1]) and the found kernel's NCC with the hidden one."""
    return markdown(["image", "size", f"sigma_y estimated (added {added}, [-1, 1])", "kernel NCC"],
                    "|:--|:--|---:|---:|",
                    [[r["image"], "x".join(map(str, r["size"])), f"{r['sigma_y_estimate']:.4f}",
                      f"{r['kernel_ncc']:.3f}"] for r in rows])
