#!/usr/bin/env bash
# Regenerate every committed benchmark number, in order: solver settings tuned on held-out training
# images and stored with the bundled prior, then docs/results.md, docs/performance.md and the model card.
# About an hour on 2 CPU cores. Needs ../shared/data and `pip install bm3d` for the BM3D baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WEIGHTS=src/restora/weights/restora-natural-v2.safetensors
set -x
$PY benchmarks/tune.py --limit 3 --size 128
$PY -m restora.train --export "$WEIGHTS" "$WEIGHTS" --solver-settings benchmarks/settings.json
$PY benchmarks/denoise.py --bm3d-limit 4
$PY benchmarks/quality.py --solvers diffpir --steps diffpir=25 --samples 4 --limit 12 --out benchmarks/results/quality-diffpir
$PY benchmarks/quality.py --solvers diffpir,ddrm,ddnm,pigdm,dps --tasks sr4,deblur-gauss,inpaint-random \
    --steps diffpir=25,ddnm=25,pigdm=25,dps=50 --limit 2 --out benchmarks/results/quality-solvers
$PY benchmarks/quality.py --solvers diffpir --tasks inpaint-box,inpaint-random --steps diffpir=100 --samples 4 \
    --limit 12 --out benchmarks/results/quality-diffpir-nfe100
$PY benchmarks/performance.py
$PY benchmarks/report.py
