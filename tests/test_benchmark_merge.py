"""benchmarks/quality.py --merge: a re-run of some methods replaces exactly their rows."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def quality():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("quality", BENCH / "quality.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def _row(task: str, method: str, value: float) -> dict:
    return {"task": task, "method": method, "psnr": value, "ssim": None, "nfe": 1, "seconds_per_image": 0.1}


def test_merge_replaces_the_rerun_rows_in_place_and_keeps_the_rest(quality, tmp_path):
    meta = {"images": ["a"], "size": 64, "sigma_y": 0.05, "methods": ["m1", "m2"], "samples": 1,
            "settings": {"m1": {}, "m2": {}}, "runtime": {}}
    old = [_row("sr4", "classical", 20.0), _row("sr4", "m1", 21.0), _row("sr4", "m2", 22.0),
           _row("inpaint-box", "classical", 18.0), _row("inpaint-box", "m1", 19.0)]
    (tmp_path / "results.json").write_text(json.dumps({"meta": meta, "rows": old}))
    new_meta = {**meta, "methods": ["m1", "m3"], "samples": 4, "settings": {"m1": {"x8": True}, "m3": {}}}
    rows, both = quality.merged(tmp_path, [_row("sr4", "classical", 20.0), _row("sr4", "m1", 25.0),
                                           _row("sr4", "m3", 23.0)], new_meta)
    assert [(r["task"], r["method"], r["psnr"]) for r in rows] == [
        ("sr4", "classical", 20.0), ("sr4", "m1", 25.0), ("sr4", "m2", 22.0), ("sr4", "m3", 23.0),
        ("inpaint-box", "classical", 18.0), ("inpaint-box", "m1", 19.0)]
    assert both["methods"] == ["m1", "m2", "m3"] and both["samples"] == 4
    assert both["settings"] == {"m1": {"x8": True}, "m2": {}, "m3": {}}


def test_merge_refuses_other_images_or_noise(quality, tmp_path):
    meta = {"images": ["a"], "size": 64, "sigma_y": 0.05}
    (tmp_path / "results.json").write_text(json.dumps({"meta": meta, "rows": []}))
    with pytest.raises(SystemExit, match="other images"):
        quality.merged(tmp_path, [], {**meta, "sigma_y": 0.01})
