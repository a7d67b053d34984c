"""Markdown tables from ``restora bench`` records (:mod:`.speed`) and the naive-loop comparison:
what docs/performance.md is filled with."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from restora.experiments.tables import markdown

Row = Mapping[str, Any]

NAIVE_LABELS = {
    "naive_loop": "naive loop (fp32, NCHW)",
    "restora_fp32_per_image": "restora, fp32 NCHW, per image",
    "restora_fp32_batched": "restora, fp32 NCHW, batched",
    "restora_per_image": "restora default runtime, per image",
    "restora_batched": "restora default runtime, batched",
}
"""The variants of the naive-loop comparison (``benchmarks/performance.py``), in table order."""


def memory(r: Row) -> str:
    mib = r["peak_memory_mib"]
    return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


def bench_table(rows: Sequence[Row], extra: Mapping[str, Callable[[Row], Any]] | None = None,
                gflop: float | None = None) -> str:
    """Bench rows: seconds per image, ms per image-NFE, the network's share of the time, peak memory
    (and the GFLOP/s inside the network, given one call's GFLOP at 256 px); ``extra`` columns first."""
    extra = extra or {}
    head = [*extra, "solver", "task", "size", "batch", "steps", "s / image", "ms / image-NFE",
            "network share", "peak memory", *(["GFLOP/s"] if gflop else [])]
    out = []
    for r in rows:
        pre = [str(v(r)) for v in extra.values()]
        if "error" in r:
            out.append([*pre, r["solver"], r["task"], r["size"], r["batch"], r["steps"],
                        f"failed: {r['error']}"])
            continue
        tile = f" (tiles {r['tile']})" if r.get("tile") else ""
        cells = [*pre, r["solver"], r["task"], f"{r['size']}{tile}", r["batch"], r["steps"],
                 f"{r['seconds_per_image']:.2f}", f"{1000 / r['image_nfe_per_second']:.0f}",
                 f"{100 * r['network_share']:.1f}%", memory(r)]
        if gflop:
            rate = gflop * (r["size"] / 256) ** 2 * r["image_nfe_per_second"] * r["network_share"]
            cells.append(f"{rate:.0f}")
        out.append(cells)
    return markdown(head, "|" + "---|" * len(head), out)


def group_rows(groups: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows of several bench records, each with its runtime (dtype, channels_last, compile, threads)."""
    rows = []
    for data in groups.values():
        s = data["settings"]
        rows += [{**r, "_dtype": r.get("dtype", s["dtype"]),
                  "_cl": r.get("channels_last", s["channels_last"]), "_compile": s["compile"],
                  "_threads": data["device"]["threads"]} for r in data["results"]]
    return rows


RUNTIME_COLUMNS = {
    "dtype": lambda r: r["_dtype"],
    "channels_last": lambda r: "yes" if r["_cl"] else "no",
    "compile": lambda r: "yes" if r["_compile"] else "no",
    "threads": lambda r: r["_threads"],
}
"""The columns that tell the rows of several bench records apart."""


def naive_table(naive: Mapping[str, Any]) -> str:
    """Seconds (all images and per image) and PSNR of each variant of the naive-loop comparison."""
    table = markdown(["variant", "seconds (all images)", "s / image", "PSNR (dB)"], "|---|---:|---:|---:|",
                     ([label, f"{naive[k]:.2f}", f"{naive[k] / naive['images']:.2f}",
                       f"{naive[k + '_psnr']:.2f}"] for k, label in NAIVE_LABELS.items()))
    return (f"{table}\n\nSpeed-up of restora (default runtime, best of per image / batched) over the naive "
            f"loop: **{naive['speedup']:.2f}x**.")


def ms_per_image_nfe(data: Mapping[str, Any] | None, batch: int = 4) -> float | None:
    """ms per image-NFE of a record's row at ``batch`` (None when absent or failed)."""
    for r in data["results"] if data else []:
        if r["batch"] == batch and "error" not in r:
            return 1000 / r["image_nfe_per_second"]
    return None


def runtime_choice_table(variants: Mapping[str, Mapping[str, Any] | None]) -> str:
    """ms per image-NFE of each runtime variant's record (label -> record), the fastest in bold."""
    measured = {k: v for k, data in variants.items() if (v := ms_per_image_nfe(data)) is not None}
    best = min(measured.values(), default=None)
    return markdown(["runtime (batch 4, 256x256)", "ms / image-NFE"], "|:--|---:|",
                    ([k, f"**{v:.0f}**" if v == best else f"{v:.0f}"] for k, v in measured.items()))


def machine_caption(record: Mapping[str, Any], gflop: float) -> str:
    """Where a bench record was measured, and the prior's size and cost per call."""
    dev = record["device"]
    return (f"*Measured*: {dev['name']}, {dev['cpu_count']} cores, torch {dev['torch']}, Python "
            f"{dev['python']}, restora {record['restora']}, {record['date'][:10]}; the bundled `default` "
            f"prior, {record['priors'][0]['parameters'] / 1e6:.2f} M parameters, {gflop:.2f} GFLOP per call "
            "at 256 px.")


def gpu_tables(records: Mapping[str, Mapping[str, Any]]) -> str:
    """One table per GPU bench record (name -> record), or what would fill them where there is none."""
    if not records:
        return ("**Pending**: no GPU record in `benchmarks/results/performance/`. On a CUDA machine "
                "`python benchmarks/performance.py` also runs the GPU groups (ADM ImageNet-256 and FFHQ-256 "
                "layouts with random weights, batch 1/4/16/32, fp32 vs bf16 + channels_last vs "
                "torch.compile, solver overhead).")
    parts = []
    for name, data in records.items():
        dev = data["device"]
        parts += [f"### {name}: {dev['name']}, torch {dev['torch']}, CUDA {dev.get('cuda')}", "",
                  bench_table(data["results"], {"prior": lambda r: r["prior"]}), ""]
    return "\n".join(parts)
