"""Result records: ``results.json`` = {"meta": how it was measured, "rows": one per task and method}, and
the merging of a rerun of some methods or tasks into the record already there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from restora.errors import RestoraError
from restora.io import atomic_write

SAME_MEASUREMENTS = ("images", "size", "sigma_y")
"""What a merged rerun must share with the record (the table would mix measurements otherwise)."""


def read_record(folder: Path) -> dict[str, Any] | None:
    """``folder/results.json``, or None where there is none."""
    path = Path(folder) / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def write_json(path: Path, data: Any) -> None:
    """JSON written atomically (a stopped run keeps the previous file whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def merge_record(old: dict[str, Any], rows: list[dict], meta: dict[str, Any]) -> tuple[list[dict], dict]:
    """``old``'s rows and metadata with this run's (task, method) rows put in their place, in the order
    of first appearance; refused when the images, size or noise differ."""
    if any(old["meta"].get(k) != meta.get(k) for k in SAME_MEASUREMENTS):
        raise RestoraError(f"merge: the record was measured on other images, size or noise "
                           f"({', '.join(SAME_MEASUREMENTS)}); write to another folder")
    new = {(r["task"], r["method"]) for r in rows}
    kept = [r for r in old["rows"] if (r["task"], r["method"]) not in new]
    order = list(dict.fromkeys((r["task"], r["method"]) for r in old["rows"] + rows))
    tasks = list(dict.fromkeys(task for task, _ in order))
    rows = sorted(kept + rows, key=lambda r: (tasks.index(r["task"]), order.index((r["task"], r["method"]))))
    return rows, merge_meta(old["meta"], meta)


def merge_meta(old: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a merged record: this run's, with the lists, runtimes and per-family settings of
    the rows kept from before."""
    both = {**old, **meta}
    for key in ("methods", "priors", "references"):
        if key in meta:
            both[key] = list(dict.fromkeys(old.get(key, []) + meta[key]))
    if "runtime" in meta:
        both["runtime"] = {**old.get("runtime", {}), **meta["runtime"]}
    if "settings" in meta:  # method -> task family -> options: a rerun of some families keeps the others
        before = old.get("settings", {})
        both["settings"] = {**before, **{m: {**before.get(m, {}), **families}
                                         for m, families in meta["settings"].items()}}
    if "samples" in meta:
        both["samples"] = max(old.get("samples", 1), meta["samples"])
    return both


def write_results(out: Path, rows: list[dict], meta: dict[str, Any],
                  merge: bool = False) -> tuple[list, dict]:
    """Write ``out/results.json`` (merged into the record there with ``merge``); returns what was written."""
    old = read_record(out) if merge else None
    if old is not None:
        rows, meta = merge_record(old, rows, meta)
    write_json(Path(out) / "results.json", {"meta": meta, "rows": rows})
    return rows, meta


def merge_settings(record: dict[str, Any], settings: dict[str, Any],
                   tuning: dict[str, Any]) -> dict[str, Any]:
    """A tuned-settings record with the families just tuned replaced, choice and trials; the others keep
    theirs. The run's own details (images, size, environment) go to ``_tuning["merges"]``."""
    record = {**record, **{solver: {**record.get(solver, {}), **families}
                           for solver, families in settings.items()}}
    redone = {(t["solver"], t["family"]) for t in tuning["trials"]}
    old = record["_tuning"]
    trials = [t for t in old["trials"] if (t["solver"], t["family"]) not in redone] + tuning["trials"]
    run = {k: v for k, v in tuning.items() if k != "trials"}
    record["_tuning"] = {**old, "trials": trials, "merges": [*old.get("merges", []), run]}
    return record
