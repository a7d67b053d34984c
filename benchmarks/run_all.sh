#!/usr/bin/env bash
# Regenerate every committed benchmark record, in the order of benchmarks/suite.toml (solver settings tuned
# on held-out training images and stored with the bundled prior, then the records behind docs/results.md,
# docs/peers.md, docs/performance.md and the model card), then fill the documents' tables. About six hours
# on 2 CPU cores. Needs ../shared/data and `pip install bm3d` for the BM3D baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
$PY -m restora.experiments.suite benchmarks/suite.toml
$PY benchmarks/report.py
