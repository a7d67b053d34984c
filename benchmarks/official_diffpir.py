"""The official DiffPIR inpainting script next to restora: same prior, same images, same mask.

    .venv-peers/bin/python benchmarks/official_diffpir.py --clone PATH/TO/DiffPIR --limit 4 --seeds 3
    .venv-peers/bin/python benchmarks/official_diffpir.py --clone PATH/TO/DiffPIR --speed   # ADM-256 timing

``--clone`` is a local checkout of github.com/yuanzhi-zhu/DiffPIR (read at commit 111d26e; never fetched
here). Its ``main_ddpir_inpainting.py`` runs with the few lines :mod:`restora.experiments.official` patches
(restora's crops and centred 128x128 box, LPIPS off, restora's bundled prior as its network). Its 20 NFE,
lambda 1, zeta 1, noiseless setting is what restora's inpainting defaults copy. The script needs what the
clone imports (opencv, matplotlib; torchvision is stubbed where missing: ``pip install restora[peers]``).

``--equal-psnr`` times, in one run, the SR script (its own bicubic measurement and noise, 100 NFE, lambda 1,
zeta 0.25) and the inpainting script (20 NFE) against restora's DiffPIR at the fewest NFE of ``--nfe`` whose
mean PSNR comes within 0.1 dB of the script's, cold and warm-started as ``--init auto`` does (the warm
start's estimate is timed too), on the same crops, seeds and bundled prior: the scripts' network in fp32
NCHW as they run it (the build of their own network is timed alone and subtracted), restora's in its
default runtime; and restora's loop at each script's NFE, settings and runtime (the loops alone).

``--speed`` times the same script's loop on the guided-diffusion FFHQ-256 network (random weights:
the layout, not the checkpoint, sets the cost) against restora's DiffPIR on those very weights, one
image, ``--speed-steps`` NFE, in one run: restora's default runtime and torch.compile.

Writes benchmarks/results/peers/official.json (rows as peers.py's) for docs/peers.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

import torch

from restora.experiments.measurements import BENCHMARK_TASKS, centre_crops, data_root, environment, mean_sem
from restora.experiments.official import (
    INPAINTING,
    PATCHES,
    SCRIPT,
    SUPER_RESOLUTION,
    official_main,
    official_runs,
    sr_measurement,
    write_inputs,
)
from restora.experiments.records import write_json
from restora.experiments.warm import WARM_DEFAULTS, Estimator
from restora.metrics import psnr, ssim
from restora.pictures import as_unit
from restora.priors import load
from restora.priors.adm import build_adm_prior
from restora.priors.registry import PRESETS
from restora.solvers import get, settings


def inpainting_problem(args):
    """(crops as (name, image), ref in [0, 1], the box operator, its noiseless measurement) of every run."""
    images = centre_crops(data_root() / "test" / "CBSD68", args.size, args.limit)
    x = torch.cat([img for _, img in images])
    op = BENCHMARK_TASKS["inpaint-box"].operator([0], x.shape)
    return images, as_unit(x), op, op.measure(x, 0.0, torch.Generator().manual_seed(7))


def quality(args, clone: Path) -> list[dict]:
    """Official loop vs restora's DiffPIR (its defaults and the official ending) on inpaint-box."""
    images, ref, op, y = inpainting_problem(args)
    prior = load("default")
    rows = []

    def record(label: str, estimates: list[torch.Tensor], seconds: float) -> None:
        scores = [float(psnr(e, ref, quantize=True).mean()) for e in estimates]
        mean, sem = mean_sem(scores)
        rows.append({"task": "inpaint-box", "method": label, "psnr": mean, "psnr_sem": sem,
                     "psnr_seeds": scores, "ssim": sum(float(ssim(e, ref, quantize=True).mean())
                                                       for e in estimates) / len(estimates),
                     "seconds_per_image": seconds})
        print(f"inpaint-box {label:40s} {mean:.2f} +- {sem:.2f} dB", flush=True)

    record("official DiffPIR script", *official_runs(clone, images, op.mask, prior, args.seeds))
    family = BENCHMARK_TASKS["inpaint-box"].family
    variants = {"restora diffpir": {},
                "restora diffpir clip_x0, official ending": {"clip_x0": True, "denoise_last": False}}
    for label, extra in variants.items():
        estimates, seconds = [], 0.0
        for seed in range(args.seeds):
            start = time.perf_counter()
            generator = torch.Generator().manual_seed(100 + seed)
            out = get("diffpir")(prior, op, y, sigma_y=0.0, generator=generator,
                                 **{**settings("diffpir", family), "steps": 20, **extra})
            seconds += time.perf_counter() - start
            estimates.append(as_unit(out.clamp(-1, 1)))
        record(label, estimates, seconds / args.seeds / len(ref))
    return rows


def equal_psnr(args, clone: Path) -> list[dict]:
    """Seconds per image at equal PSNR, SR (the script's own measurement) and box inpainting: each script at
    its released NFE, restora at the fewest NFE of --nfe within 0.1 dB of it, cold and (where --init auto
    has a start for the family) warm, and restora's loop at the script's NFE, settings and fp32 runtime."""
    rows = []
    released = (("sr4", SUPER_RESOLUTION, 100, 0.1), ("inpaint-box", INPAINTING, 20, 0.0))
    for task, script, nfe, sigma_y in released:
        images, ref, op, y = inpainting_problem(args) if task == "inpaint-box" else sr_problem(args, clone)
        family = BENCHMARK_TASKS[task].family
        one = BENCHMARK_TASKS[task].operator([0], (1, *ref.shape[1:]))  # one image's operator

        def mean_psnr(estimates: list[torch.Tensor], ref=ref) -> float:
            return sum(float(psnr(e, ref, quantize=True).mean()) for e in estimates) / len(estimates)

        estimates, official = official_runs(clone, images, getattr(op, "mask", None), load("default"),
                                            args.seeds, script, nfe)
        target = mean_psnr(estimates)
        rows.append({"task": task, "method": "official DiffPIR script", "nfe": nfe, "psnr": target,
                     "seconds_per_image": official, "runtime": {"dtype": "fp32", "channels_last": False}})
        print(f"{task} official {nfe} NFE {target:.2f} dB, {official:.2f} s/image", flush=True)
        start, budgets = WARM_DEFAULTS.get("diffpir", {}).get(family), [int(n) for n in args.nfe.split(",")]
        variants = [("restora diffpir at the script's settings, fp32 NCHW", "fp32", False, [nfe], {}, False),
                    ("restora diffpir cold, default runtime", "auto", None, budgets, {}, True),
                    *([("restora diffpir warm (--init auto), default runtime", "auto", None, budgets, start,
                        True)] if start else [])]
        for label, dtype, layout, budgets, warm, tuned in variants:
            prior = load("default").configure(dtype=dtype, channels_last=layout)
            estimate = Estimator(warm["init"]) if warm else None
            for steps in budgets:
                options = {**settings("diffpir", family, prior if tuned else None), "steps": steps,
                           **{k: v for k, v in warm.items() if k not in ("init", "steps")}}
                outs, begin = [], time.perf_counter()
                for seed in range(args.seeds):  # one image per call, as the scripts run them
                    g = torch.Generator().manual_seed(100 + seed)
                    out = []
                    for i in range(len(ref)):
                        extra = {} if estimate is None else {
                            "x_init": estimate(one, y[i:i + 1], sigma_y=sigma_y, family=family, generator=g)}
                        out.append(get("diffpir")(prior, one, y[i:i + 1], sigma_y=sigma_y, generator=g,
                                                  **options, **extra))
                    outs.append(as_unit(torch.cat(out).clamp(-1, 1)))
                seconds = (time.perf_counter() - begin) / args.seeds / len(ref)
                score = mean_psnr(outs)
                print(f"{task} {label} {steps} NFE {score:.2f} dB, {seconds:.2f} s/image", flush=True)
                if score >= target - 0.1 or steps == budgets[-1]:
                    rows.append({"task": task, "method": label, "nfe": steps, "psnr": score,
                                 "reaches_official": score >= target - 0.1, "options": options,
                                 "init": warm.get("init"), "seconds_per_image": seconds,
                                 "speedup_vs_official": official / seconds,
                                 "runtime": {"dtype": prior.dtype_name,
                                             "channels_last": prior.channels_last}})
                    break
    return rows


def sr_problem(args, clone: Path):
    """(crops, ref in [0, 1], the sr4 operator, the SR script's own noisy measurement of them)."""
    images = centre_crops(data_root() / "test" / "CBSD68", args.size, args.limit)
    x = torch.cat([img for _, img in images])
    return images, as_unit(x), BENCHMARK_TASKS["sr4"].operator([0], x.shape), sr_measurement(clone, images)


def speed(args, clone: Path) -> list[dict]:
    """Seconds per image of the official loop on the FFHQ-256 network vs restora's DiffPIR on the same
    weights (restora's default runtime, fp32 NCHW as the script runs, bf16, torch.compile). The script
    builds its own network first (then runs ours in its place): that build, timed on its own here, is
    subtracted from its time."""
    images = centre_crops(data_root() / "test" / "CBSD68", 256, 1)
    x = images[0][1]
    op = BENCHMARK_TASKS["inpaint-box"].operator([0], x.shape)
    y = op.measure(x, 0.0, torch.Generator().manual_seed(7))
    nets = []
    script = official_main(clone, lambda diffusion: nets[0], args.speed_steps)
    config = dict(model_path="", num_channels=128, num_res_blocks=1, attention_resolutions="16")
    options = script["utils_model"].create_argparser(config).parse_args([])
    torch.manual_seed(0)
    start = time.perf_counter()
    net, _ = script["create_model_and_diffusion"](**script["args_to_dict"](
        options, script["model_and_diffusion_defaults"]().keys()))
    build = time.perf_counter() - start
    nets.append(net.eval())
    with tempfile.TemporaryDirectory() as tmp:
        write_inputs(Path(tmp), images, op.mask, clone)
        with contextlib.chdir(tmp):
            start = time.perf_counter()
            script["main"]()
            official = time.perf_counter() - start - build
    rows = [{"task": "inpaint-box", "method": "official DiffPIR script, FFHQ-256 network",
             "nfe": args.speed_steps, "seconds_per_image": official, "network_build_seconds": build}]
    print(f"official {official:.1f} s (+ {build:.1f} s building its network)", flush=True)
    kwargs = {**settings("diffpir", "inpaint"), "steps": args.speed_steps, "sigma_y": 0.0}
    variants = {"restora diffpir, default runtime": {"dtype": "auto", "channels_last": None},
                "restora diffpir, fp32 NCHW": {"dtype": "fp32", "channels_last": False},
                "restora diffpir, bf16 autocast + channels_last": {"dtype": "bf16", "channels_last": True},
                "restora diffpir, default runtime + torch.compile": {"dtype": "auto", "channels_last": None,
                                                                     "compile": True}}
    for label, knobs in variants.items():
        prior = build_adm_prior(PRESETS["adm-ffhq256"].config)
        prior.net.load_state_dict(net.state_dict())
        prior.configure(**knobs)
        if knobs.get("compile"):
            get("diffpir")(prior, op, y, **{**kwargs, "steps": 2})  # compile before timing
        start = time.perf_counter()
        get("diffpir")(prior, op, y, generator=torch.Generator().manual_seed(0), **kwargs)
        seconds = time.perf_counter() - start
        rows.append({"task": "inpaint-box", "method": label, "nfe": args.speed_steps,
                     "runtime": {"dtype": prior.dtype_name, "channels_last": prior.channels_last},
                     "seconds_per_image": seconds, "speedup_vs_official": official / seconds})
        print(f"{label} {seconds:.1f} s ({official / seconds:.2f}x)", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clone", required=True, type=Path, help="local checkout of yuanzhi-zhu/DiffPIR")
    p.add_argument("--limit", type=int, default=4)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--speed", action="store_true", help="also time the FFHQ-256 network")
    p.add_argument("--speed-steps", type=int, default=10)
    p.add_argument("--equal-psnr", action="store_true", help="seconds per image at equal PSNR (see above)")
    p.add_argument("--no-quality", action="store_true", help="keep the record's quality rows (not rerun)")
    p.add_argument("--nfe", default="3,5,8,10,15,20,30,50,100", help="restora's budgets for --equal-psnr")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/peers/official.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    clone = args.clone.resolve()
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.exists() else {}
    rerun = not args.no_quality or args.speed  # the meta describes the quality and speed rows
    meta = {"clone": str(clone), "script": SCRIPT, "patched": list(PATCHES), "size": args.size,
            "seeds": args.seeds, "nfe": 20, "environment": environment()} if rerun or "meta" not in previous \
        else previous["meta"]
    equal = {"rows": equal_psnr(args, clone), "seeds": args.seeds, "size": args.size, "limit": args.limit,
             "patched": {s.file: list(s.patches) for s in (SUPER_RESOLUTION, INPAINTING)},
             "environment": environment()} if args.equal_psnr else previous.get("equal_psnr")
    result = {"meta": meta, "rows": previous.get("rows", []) if args.no_quality else quality(args, clone),
              "speed": speed(args, clone) if args.speed else previous.get("speed", []), "equal_psnr": equal}
    write_json(out, result)


if __name__ == "__main__":
    main()
