"""The tables of fewer network calls: quality against NFE with cold and warm starts (``benchmarks/nfe.py``),
when torch.compile pays (``benchmarks/compile.py``) and restora against the official DiffPIR script at equal
PSNR (``benchmarks/official_diffpir.py --equal-psnr``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from restora.experiments.tables import markdown, measured_caption
from restora.experiments.warm import held_out_scores
from restora.solvers import info

Row = Mapping[str, Any]
START_LABELS = {"cold": "cold (published ladder)", "cold, tuned ladder": "cold, tuned ladder", "warm": "warm"}


def ladder(options: Mapping[str, Any], solver: str) -> str:
    """'quad', 'logsnr, order 2': a run's ladder in words (the solver's own where the options leave it)."""
    options = {**info(solver).defaults, **options}
    return options["spacing"] + (", order 2" if options.get("order") == 2 else "")


def setup_caption(meta: Mapping[str, Any]) -> str:
    tune = meta["tune"]
    return (measured_caption(meta) + f" Starts chosen on {tune['limit']} held-out training crops of "
            f"{tune['size']} px at {tune['nfe']} NFE over sigma_start {', '.join(map(str, tune['levels']))}, "
            f"ladders {', '.join(tune['spacings'])} and estimates {', '.join(tune['inits'])}.")


def chosen_table(meta: Mapping[str, Any]) -> str:
    """Per solver and task: the cold ladder and the warm start chosen, their held-out PSNR, and whether the
    warm start is shipped (it beat the cold start there)."""
    out = []
    for solver, tasks in meta["chosen"].items():
        for task, picked in tasks.items():
            cold, warm_psnr = held_out_scores(picked)
            warm = picked["warm"]
            out.append([solver, task, ladder(picked["cold"], solver), f"{cold:.2f}", f"`{warm['init']}`",
                        warm["sigma_start"], ladder(warm, solver), f"{warm_psnr:.2f}",
                        "yes" if warm_psnr > cold else "no: cold is better"])
    return markdown(["solver", "task", "cold: ladder", "held-out PSNR", "warm: estimate", "sigma_start",
                     "ladder", "held-out PSNR", "`--init auto`"],
                    "|:--|:--|:--|---:|:--|---:|:--|---:|:--|", out)


def curves_table(rows: Sequence[Row], meta: Mapping[str, Any]) -> str:
    """PSNR / LPIPS-alex at each NFE, a row per task, solver and start (the chosen warm start at the NFE it
    was chosen at in bold), and each warm start's estimate alone (0 NFE, its seconds per image)."""
    nfes, tuned = meta["nfe"], meta["tune"]["nfe"]
    cell = {(r["task"], r["solver"], r["start"], r["nfe"]): r for r in rows if r["solver"] != "init"}
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        for r in rows:
            if r["task"] == task and r["solver"] == "init":
                alone = f"estimate `{r['start']}` alone ({r['seconds_per_image']:.1f} s / image)"
                out.append([task, alone, "", *[_score(r) if n == nfes[0] else "" for n in nfes]])
        for solver in dict.fromkeys(r["solver"] for r in rows if r["solver"] != "init"):
            for start, label in START_LABELS.items():
                found = [cell.get((task, solver, start, n)) for n in nfes]
                if not any(found):
                    continue
                options = next(f for f in found if f)["options"]
                how = ladder(options, solver) + (f", `{options['init']}` at {options['sigma_start']}"
                                         if start == "warm" else "")
                out.append([task, f"{solver} {label}", how, *[
                    "" if f is None else f"**{_score(f)}**" if start == "warm" and n == tuned else _score(f)
                    for f, n in zip(found, nfes, strict=True)]])
    return markdown(["task", "method", "ladder, start", *[f"{n} NFE" for n in nfes]],
                    "|:--|:--|:--|" + "---:|" * len(nfes), out)


def _score(r: Row) -> str:
    lp = r.get("lpips")
    return f"{r['psnr']:.2f}" + (f" / {lp:.3f}" if lp is not None else "")


def target_table(rows: Sequence[Row], solver: str, few: int, many: int, tolerance: float) -> str:
    """The issue's test: ``solver`` warm at ``few`` NFE against cold at ``many``, per task (mean PSNR)."""
    psnr = {(r["task"], r["start"], r["nfe"]): r["psnr"] for r in rows if r["solver"] == solver}
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        if (task, "warm", few) in psnr and (task, "cold", many) in psnr:
            gap = psnr[task, "warm", few] - psnr[task, "cold", many]
            out.append([task, f"{psnr[task, 'cold', many]:.2f}", f"{psnr[task, 'warm', few]:.2f}",
                        f"{gap:+.2f}", "yes" if gap >= -tolerance else "no"])
    return markdown(["task", f"{solver} cold, {many} NFE", f"{solver} warm, {few} NFE", "difference (dB)",
                     f"within {tolerance} dB"], "|:--|---:|---:|---:|:--|", out)


def break_evens(record: Mapping[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    """{prior: (calls after which compiling pays with a warm cache, with an empty one)}; None: never (the
    compiled calls are no faster)."""
    out = {}
    for prior in dict.fromkeys(r["prior"] for r in record["rows"]):
        mode = {r["mode"]: r for r in record["rows"] if r["prior"] == prior}
        saving = mode["eager"]["per_call"] - mode["compiled, warm cache"]["per_call"]
        out[prior] = tuple(None if saving <= 0 else mode[m]["compile_seconds"] / saving
                           for m in ("compiled, warm cache", "compiled, empty cache"))
    return out


def compile_table(record: Mapping[str, Any]) -> str:
    """Each prior's first and later calls eager, compiled with an empty cache and with a warm one, and the
    calls after which compiling has paid for itself in each case."""
    out, evens = [], break_evens(record)
    for r in record["rows"]:
        if r["mode"] != "break-even":
            out.append([r["prior"], r["mode"], f"{r['first_call']:.2f}", f"{r['per_call'] * 1e3:.0f}",
                        f"{r['compile_seconds']:.1f}" if r["mode"] != "eager" else "", ""])
            continue
        warm, empty = evens[r["prior"]]
        out.append([r["prior"], "compiling pays after", "", f"{r['saving_per_call'] * 1e3:+.0f} saved", "",
                    "never" if warm is None else f"{warm:.0f} calls (warm cache), {empty:.0f} (empty)"])
    return markdown(["prior (256 px, batch 1)", "process", "first call (s)", "later calls (ms)",
                     "compile cost (s)", "break-even"], "|:--|:--|---:|---:|---:|:--|", out)


def equal_psnr_table(record: Mapping[str, Any]) -> str:
    """Per task, the official script at its released NFE against restora at the fewest NFE that matches its
    PSNR (and restora's loop at the script's settings), with how it was measured."""
    env, out = record["environment"], []
    official = {r["task"]: r["seconds_per_image"] for r in record["rows"]
                if r["method"] == "official DiffPIR script"}
    for r in record["rows"]:
        start = f", from `{r['init']}` at {r['options']['sigma_start']}" if r.get("init") else ""
        out.append([r["task"], r["method"] + start, r["nfe"], f"{r['psnr']:.2f}", _runtime(r),
                    f"{r['seconds_per_image']:.2f}", f"{official[r['task']] / r['seconds_per_image']:.2f}x"])
    caption = (f"*Measured*: {record['limit']} CBSD68 centre crops of {record['size']} px, {record['seeds']} "
               f"seeds, {env['processor'] or env['machine']}, {env['threads']} thread(s), torch "
               f"{env['torch']}; bundled prior {env['bundled_prior']}.")
    return caption + "\n\n" + markdown(["task", "loop", "NFE", "PSNR (dB)", "network runtime", "s / image",
                                         "speed-up"], "|:--|:--|---:|---:|:--|---:|---:|", out)


def _runtime(r: Row) -> str:
    rt = r["runtime"]
    return rt["dtype"] + (" + channels_last" if rt["channels_last"] else " NCHW")


def nfe_blocks(record: Mapping[str, Any]) -> dict[str, Callable[[], str]]:
    """docs/results.md's blocks of the NFE record (``benchmarks/results/nfe``)."""
    meta, rows = record["meta"], record["rows"]
    return {"nfe:setup": lambda: setup_caption(meta), "nfe:chosen": lambda: chosen_table(meta),
            "nfe:curves": lambda: curves_table(rows, meta),
            "nfe:target": lambda: target_table(rows, "diffpir", 10, 100, 0.3)}
