"""Property-based fuzzing of `restora degrade` / `restore` / `eval` / `train` / `sample` (hypothesis): random
option values, random corrupt inputs, edited sidecars, arrays of other dtypes and scales. Whatever the
arguments, the command exits 0, 1 or 2, prints at most one error line per failure and no traceback, never
counts a non-finite, constant or out-of-range restoration as done, and changes no file outside its output
folder. A few examples in the default suite, many in the slow one."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from restora.cli import main
from restora.priors.loaders import save_restora_prior
from restora.priors.unet import MODEL_SIZES, build_restora_prior

pytestmark = pytest.mark.usefixtures("one_thread")

RUN = itertools.count()
CODES: list[int] = []  # exit codes seen (the default run checks it reaches all three)

SIGMAS = ["0", "0.05", "-1", "1e30", "nan", "abc", "12.75"]
TASKS = ["sr2", "sr4", "denoise", "deblur-gauss", "inpaint-random", "jpeg", "cs", "colorize", "bogus"]
SOLVERS = ["diffpir", "ddrm", "ddnm", "dps", "dpir", "repaint", "ddim", "nope"]
OPTS = ["lam=abc", "zeta=2", "zeta=0.5", "eta=0.5", "steps=3", "foo=1", "x8=maybe", "sigma_end=0.1"]
TASK_OPTS = ["quality=abc", "quality=20", "ratio=0.5", "std=wide", "size=3", "center=false"]


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory) -> Path:
    """clean/ (two 16x16 images), bad/ (corrupt inputs), m/ (sr2 measurements), tiny.safetensors."""
    root = tmp_path_factory.mktemp("fuzz")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        save_restora_prior(build_restora_prior(MODEL_SIZES["tiny"]), root / "tiny.safetensors")
    rng = np.random.default_rng(0)
    for d in ("clean", "bad"):
        (root / d).mkdir()
    for i in range(2):
        coarse = Image.fromarray((rng.random((4, 4, 3)) * 255).astype(np.uint8))
        coarse.resize((16, 16), Image.BILINEAR).save(root / "clean" / f"c{i}.png")
    (root / "bad" / "empty.png").write_bytes(b"")
    (root / "bad" / "truncated.png").write_bytes((root / "clean" / "c0.png").read_bytes()[:40])
    (root / "bad" / "text.png").write_text("not an image")
    np.save(root / "bad" / "nan.npy", np.full((3, 8, 8), np.nan, np.float32))
    np.save(root / "bad" / "huge.npy", np.full((3, 8, 8), 1e30, np.float32))
    np.save(root / "bad" / "shape.npy", np.zeros((2, 2, 2, 2, 2), np.float32))
    np.save(root / "bad" / "uint8.npy", np.full((3, 8, 8), 200, np.uint8))
    np.save(root / "bad" / "scaled.npy", rng.random((3, 8, 8)).astype(np.float32) * 1e6)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["degrade", str(root / "clean"), "--task", "sr2", "--sigma-y", "0.05",
                     "-o", str(root / "m"), "--save-tensor", "-q"]) == 0
    edited = root / "sidecars"  # the measurements of m/ with one field of each sidecar edited
    edited.mkdir()
    for i, (key, value) in enumerate(SIDECAR_EDITS):
        for suffix in (".npy", ".png"):
            (edited / f"e{i}{suffix}").write_bytes((root / "m" / f"c0{suffix}").read_bytes())
        side = json.loads((root / "m" / "c0.json").read_text())
        side.update({key: value, "measurement": f"e{i}.png", "tensor": f"e{i}.npy"} if key not in (
            "measurement", "tensor") else {key: value})
        (edited / f"e{i}.json").write_text(json.dumps(side))
    return root


SIDECAR_EDITS = [("sigma_y", "abc"), ("seed", 2.5), ("task", "bogus"), ("kernel", "../../etc/passwd"),
                 ("mask", "/etc/passwd"), ("image_shape", [3, -1, 16]), ("sigma_y", 1e9),
                 ("task_options", [1, 2]), ("measurement", "../m/c1.png")]


def digest(root: Path, skip: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and skip not in p.parents and p != skip and p.parent.name != "__pycache__"}


def is_flat(measurement: Path) -> bool:
    values = np.load(measurement) if measurement.suffix == ".npy" else np.asarray(Image.open(measurement))
    return float(values.max()) == float(values.min())


def pick_inputs(root: Path, draw, pool: list[str]) -> list[str]:
    chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
    return [str(root / c) for c in chosen]


@st.composite
def command(draw, root: Path) -> tuple[list[str], Path]:
    out = root / "runs" / f"r{next(RUN)}"
    kind = draw(st.sampled_from(["degrade", "restore", "restore", "restore", "eval", "train", "sample"]))
    flag = lambda name, values: [name, draw(st.sampled_from(values))] if draw(st.booleans()) else []  # noqa: E731
    if kind == "eval":
        args = ["eval", str(root / draw(st.sampled_from(["clean", "m", "bad", "clean/c0.png"]))),
                str(root / draw(st.sampled_from(["clean", "m", "clean/c1.png"])))]
        args += flag("--crop-border", ["0", "2", "-1"]) + flag("--format", ["md", "csv", "json"])
        args += flag("-o", [str(out / "s.md"), str(root / "clean" / "c0.png" / "x.md"), str(out / "s.json"),
                            str(root / "clean" / "c0.png"), str(root / "m" / "c1.png"), str(out / "s.png")])
        return args, out
    if kind == "train":
        args = ["train", "--data", str(root / draw(st.sampled_from(["clean", "bad", "missing"]))), "--out",
                str(out), "--val-crop", "16", "--holdout-every", "2", "--threads", "1", "--no-progress"]
        args += ["--model", draw(st.sampled_from(["tiny", "tiny", "bogus", '{"channels": 100000}']))]
        args += ["--steps", draw(st.sampled_from(["1", "2", "0"])), *flag("--crop", ["8", "16", "0"])]
        args += flag("--lr", ["nan", "1e-3", "-1"]) + flag("--batch-size", ["0", "2"])
        args += flag("--log-every", ["0", "1"]) + flag("--ema-decay", ["0.9", "2"])
        args += [f for f in ("--resume", "--overwrite") if draw(st.booleans())]
        return args, out
    if kind == "sample":
        args = ["sample", "-o", str(out), "--prior", str(root / "tiny.safetensors"), "--threads", "1"]
        args += flag("--size", ["16", "0", "3", "1000000"]) + flag("--count", ["1", "0", "2"])
        args += flag("--steps", ["1", "3", "0"]) + flag("--eta", ["0", "1", "2", "nan"])
        args += flag("--seed", ["0", "-1", str(2**70)])
        return args, out
    pool = ["clean", "clean/c0.png", "bad", "bad/empty.png", "bad/nan.npy", "m", "m/c1.npy", "missing.png",
            "bad/uint8.npy", "bad/scaled.npy", "sidecars"]
    args = [kind, *pick_inputs(root, draw, pool), "-o", str(out)]
    args += flag("--task", TASKS) + flag("--sigma-y", SIGMAS) + flag("--noise-scale", ["[0,1]", "255"])
    args += flag("--task-opt", TASK_OPTS) + flag("--seed", ["0", "7", "-3"])
    if kind == "degrade":
        args += flag("--noise", ["gaussian", "poisson", "poisson-gaussian"])
        args += flag("--poisson-rate", ["30", "0", "x"]) + flag("--mask", ["random:0.5", "box"])
        args += flag("--kernel", ["levin:3", "gauss:5:1.0", "bogus:1", "motion:9"])
        args += [f for f in ("--save-tensor", "--modcrop", "--gray") if draw(st.booleans())]
        if "--task" not in args:
            args += ["--task", "sr2"]
        return args, out
    args += ["--prior", str(root / "tiny.safetensors"), "--steps", draw(st.sampled_from(["1", "2", "3"]))]
    args += flag("--solver", SOLVERS) + flag("--opt", OPTS) + flag("--tile", ["0", "16", "-1", "64"])
    args += flag("--tile-overlap", ["0", "8", "16", "99"]) + flag("--batch-size", ["1", "2"])
    args += flag("--samples", ["1", "2"]) + flag("--reference", [str(root / "clean"), str(root / "nope")])
    args += flag("--crop-border", ["0", "2", "-1"]) + flag("--max-memory", ["1K", "100M", "abc"])
    args += [f for f in ("--resume", "--grid", "--save-tensor") if draw(st.booleans())]
    return args, out


def check_run(root: Path, args: list[str], out: Path) -> None:
    before = digest(root, out)
    err, stdout = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(err):
        code = main(args)
    text = err.getvalue()
    assert code in (0, 1, 2), (args, code, text)
    assert "Traceback" not in text, (args, text)
    errors = [line for line in text.splitlines() if line.startswith("restora: error:")]
    inputs = [a for a in args[1:] if not a.startswith("-")]
    assert len(errors) <= max(1, 2 * len(inputs) + 4), (args, text)
    if code == 2:
        assert len(errors) == 1, (args, text)
    assert digest(root, out) == before, args  # nothing outside the output folder changed
    CODES.append(code)
    summary = out / "summary.csv"
    if args[0] == "restore" and summary.is_file():
        with open(summary, newline="") as f:
            for row in csv.DictReader(f):
                if row["status"] == "ok":
                    pixels = np.asarray(Image.open(row["output"]), dtype=np.float32)
                    assert np.isfinite(pixels).all(), (args, row)
                    assert pixels.max() > pixels.min() or is_flat(Path(row["file"])), (args, row)
                    array = Path(row["output"]).with_suffix(".npy")
                    if array.is_file():  # the unclipped restoration stays near the image range
                        values = np.load(array)
                        assert np.mean((values < -0.5) | (values > 1.5)) <= 1e-3, (args, row)



def run_fuzz(root: Path, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def one(data):
        args, out = data.draw(command(root))
        check_run(root, args, out)

    one()


def test_fuzz_the_command_line(fuzz_root):
    CODES.clear()
    run_fuzz(fuzz_root, 40)
    assert set(CODES) == {0, 1, 2}, CODES  # the examples reach success, partial failure and usage errors


@pytest.mark.slow
def test_fuzz_the_command_line_longer(fuzz_root):
    run_fuzz(fuzz_root, 300)
