#!/usr/bin/env bash
# Regenerate every committed benchmark number, in order: solver settings tuned on held-out training
# images and stored with the bundled prior, then docs/results.md, docs/performance.md and the model card.
# About six hours on 2 CPU cores (two jobs with --threads 1 in parallel halve it). Needs
# ../shared/data and `pip install bm3d` for the BM3D baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WEIGHTS=src/restora/weights/$($PY -c "from restora.priors.registry import BUNDLED_FILE; print(BUNDLED_FILE)")
set -x
M="diffpir@default,dpir@default,dpir@ffdnet-color,diffpir@default+ffdnet-color"
$PY benchmarks/tune.py --limit 3 --size 128
# every other family DiffPIR accepts, so that no default falls back to an untuned signature value
$PY benchmarks/tune.py --families mri,ct,phase --gray --limit 3 --size 128 --merge
$PY benchmarks/tune.py --families denoise,colorize,cs,jpeg --limit 3 --size 128 --merge
$PY benchmarks/tune.py --prior default+ffdnet-color --limit 3 --size 128 --out benchmarks/results/split/tuned-composite.json
$PY benchmarks/tune.py --prior ffdnet-color --solvers dpir --families deblur,inpaint --limit 4 --size 256 \
    --out benchmarks/results/tune-dpir/dpir-ffdnet-color.json
$PY benchmarks/tune.py --prior ffdnet-gray --solvers dpir --families mri,ct --gray --limit 3 --size 128 \
    --out benchmarks/results/tune-medical/dpir-ffdnet-gray.json
$PY -m restora.train --export "$WEIGHTS" "$WEIGHTS" --force --solver-settings benchmarks/settings.json
$PY benchmarks/denoise.py --bm3d-limit 4
$PY benchmarks/split.py
# fp32 everywhere, so that a table does not depend on whether the CPU has bf16 instructions; the bf16
# rerun of the main table measures what --dtype auto costs there (report.py compares it when it exists)
Q="$PY benchmarks/quality.py --dtype fp32"
$Q --methods "$M" --steps diffpir=25 --samples 4 --limit 12 --out benchmarks/results/quality-lownoise
# a diagnosis of the motion-blur rows (report.py quotes it; no setting is chosen from it)
$Q --methods "diffpir@default:lam=16,diffpir@default+ffdnet-color:lam=16" --steps diffpir=25 --limit 12 \
    --tasks deblur-levin --out benchmarks/results/quality-levin-lam16
if grep -q -E 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then
    $PY benchmarks/quality.py --dtype bf16 --methods "$M" --steps diffpir=25 --samples 4 --limit 12 \
        --out benchmarks/results/quality-lownoise-bf16
fi
$Q --methods "$M" --steps diffpir=25 --samples 4 --limit 4 --sigma-y 0.01 \
    --tasks sr4,deblur-gauss,inpaint-random --out benchmarks/results/quality-lownoise-s001
$Q --solvers diffpir,ddrm,ddnm,pigdm,dps --tasks sr4,deblur-gauss,inpaint-random \
    --steps diffpir=25,ddnm=25,pigdm=25,dps=50 --limit 2 --out benchmarks/results/quality-solvers
$Q --solvers diffpir --tasks inpaint-box,inpaint-random --steps diffpir=100 --samples 4 \
    --limit 12 --out benchmarks/results/quality-diffpir-nfe100
$PY benchmarks/medical.py --limit 4 --restarts 2
if [ -x .venv-peers/bin/python ]; then  # torch 2.14.1 + deepinv 0.5.0 + restora (pip install -e . --no-deps)
    .venv-peers/bin/python benchmarks/peers.py --limit 4 --seeds 3
    if [ -n "${DIFFPIR_CLONE:-}" ]; then  # a local clone of github.com/yuanzhi-zhu/DiffPIR
        .venv-peers/bin/python benchmarks/official_diffpir.py --clone "$DIFFPIR_CLONE" --limit 4 --seeds 3 --speed
    fi
fi
$PY benchmarks/performance.py
$PY benchmarks/report.py
