"""benchmarks/quality.py and tune.py --merge: a re-run of some methods or families replaces exactly
their rows; quality.py's per-method option overrides."""

from __future__ import annotations

import json

import pytest

from conftest import bench_module


@pytest.fixture()
def quality():
    yield from bench_module("quality")


@pytest.fixture()
def tune():
    yield from bench_module("tune")


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


def test_merge_of_other_tasks_keeps_the_settings_of_the_families_not_rerun(quality, tmp_path):
    meta = {"images": ["a"], "size": 64, "sigma_y": 0.05, "methods": ["m1"], "samples": 1,
            "settings": {"m1": {"sr": {"lam": 1.0}, "deblur": {"lam": 4.0}}}, "runtime": {}}
    (tmp_path / "results.json").write_text(json.dumps({"meta": meta, "rows": [_row("sr4", "m1", 21.0)]}))
    new_meta = {**meta, "settings": {"m1": {"inpaint": {"lam": 1.0}}}}
    _, both = quality.merged(tmp_path, [_row("inpaint-box", "m1", 19.0)], new_meta)
    assert both["settings"] == {"m1": {"sr": {"lam": 1.0}, "deblur": {"lam": 4.0}, "inpaint": {"lam": 1.0}}}


def test_merge_refuses_other_images_or_noise(quality, tmp_path):
    meta = {"images": ["a"], "size": 64, "sigma_y": 0.05}
    (tmp_path / "results.json").write_text(json.dumps({"meta": meta, "rows": []}))
    with pytest.raises(SystemExit, match="other images"):
        quality.merged(tmp_path, [], {**meta, "sigma_y": 0.01})


def test_a_method_may_override_its_solver_options_and_bad_ones_are_refused(quality):
    assert quality.split_method("diffpir@default+ffdnet-color:sigma_start=0.6:zeta=0.5") == (
        "diffpir", "default+ffdnet-color", {"sigma_start": 0.6, "zeta": 0.5})
    assert quality.split_method("dpir@ffdnet-color") == ("dpir", "ffdnet-color", {})
    kwargs = quality.solver_kwargs("diffpir@default:zeta=0.5", "sr", None, {"diffpir": 25})
    assert kwargs["zeta"] == 0.5 and kwargs["steps"] == 25
    with pytest.raises(Exception, match="no option 'sigma_begin'"):
        quality.split_method("diffpir@default:sigma_begin=0.6")


def test_tune_merge_replaces_the_retuned_family_choice_and_trials_only(tune):
    def trial(family, lam, value):
        return {"solver": "diffpir", "family": family, "task": family, "lam": lam, "psnr": value}

    old = {"diffpir": {"sr": {"lam": 1.0}, "deblur": {"lam": 4.0}},
           "_tuning": {"images": 3, "trials": [trial("sr", 1.0, 20.0), trial("deblur", 4.0, 21.0)]}}
    new = tune.merged(old, {"diffpir": {"deblur": {"lam": 16.0}}},
                      {"images": 3, "trials": [trial("deblur", 16.0, 22.0)]})
    assert new["diffpir"] == {"sr": {"lam": 1.0}, "deblur": {"lam": 16.0}}
    assert new["_tuning"]["trials"] == [trial("sr", 1.0, 20.0), trial("deblur", 16.0, 22.0)]
    assert new["_tuning"]["merges"] == [{"images": 3}]
    assert old["diffpir"]["deblur"] == {"lam": 4.0}  # the record read is not changed in place
