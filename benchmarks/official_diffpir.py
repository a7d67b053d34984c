"""The official DiffPIR inpainting script next to restora: same prior, same images, same mask.

    .venv-peers/bin/python benchmarks/official_diffpir.py --clone PATH/TO/DiffPIR --limit 4 --seeds 3
    .venv-peers/bin/python benchmarks/official_diffpir.py --clone PATH/TO/DiffPIR --speed   # ADM-256 timing

``--clone`` is a local checkout of github.com/yuanzhi-zhu/DiffPIR (read at commit 111d26e; never fetched
here). Its ``main_ddpir_inpainting.py`` runs unchanged except for the lines :data:`PATCHES` replaces:
the test folder and mask (restora's images as PNGs and restora's centred 128x128 box, written to a
scratch folder), LPIPS off (no weights offline) and the network: restora's bundled prior wrapped as a
guided-diffusion epsilon model (:class:`EpsModel`), so both loops call the same denoiser. Its 20 NFE,
lambda 1, zeta 1, noiseless setting is what restora's inpainting defaults copy. The script needs
what the clone imports (opencv, torchvision, matplotlib: ``pip install restora[peers]``).

``--speed`` times the same script's loop on the guided-diffusion FFHQ-256 network (random weights:
the layout, not the checkpoint, sets the cost) against restora's DiffPIR on those very weights, one
image, ``--speed-steps`` NFE, in one run: restora's default runtime and torch.compile.

Writes benchmarks/results/peers/official.json (rows as peers.py's) for docs/peers.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restora.experiments.measurements import BENCHMARK_TASKS, centre_crops, data_root, environment, mean_sem
from restora.experiments.records import write_json
from restora.metrics import psnr, ssim
from restora.pictures import as_unit
from restora.priors import load
from restora.priors.adm import build_adm_prior
from restora.priors.registry import PRESETS
from restora.solvers import get, settings

SCRIPT = "main_ddpir_inpainting.py"
MODEL_LINE = 'model.load_state_dict(torch.load(args.model_path, map_location="cpu"))'
PATCHES = {
    "testset_name            = 'demo_test'": "testset_name = 'restora'",
    "mask_name               = 'gt_keep_masks/face/000000.png'": "mask_name = 'mask.png'",
    "load_mask               = False": "load_mask = True",
    "calc_LPIPS              = True": "calc_LPIPS = False",
    MODEL_LINE: "model = RESTORA_MODEL",
}


class EpsModel(torch.nn.Module):
    """A restora prior as guided-diffusion's epsilon network on VP iterates x_t = sqrt(abar) (x0 +
    sigma eps): eps = (x_t - sqrt(abar) D(x_t / sqrt(abar), sigma)) / sqrt(1 - abar), with zero
    learned-variance channels (the DiffPIR loop only reads the x0 prediction)."""

    def __init__(self, prior, alphas_cumprod) -> None:
        super().__init__()
        self.prior = prior
        self.register_buffer("abar", torch.as_tensor(np.asarray(alphas_cumprod), dtype=torch.float64))

    def forward(self, x: torch.Tensor, t: torch.Tensor, **kwargs) -> torch.Tensor:
        abar = self.abar[t.long()].float().view(-1, 1, 1, 1)
        x0 = self.prior(x / abar.sqrt(), ((1 - abar) / abar).sqrt().flatten())
        eps = (x - abar.sqrt() * x0) / (1 - abar).sqrt()
        return torch.cat([eps, torch.zeros_like(eps)], dim=1)


def official_main(clone: Path, model_for, iter_num: int = 20) -> dict:
    """The namespace of the clone's inpainting script with :data:`PATCHES` applied (its ``main`` not yet
    run); ``model_for(diffusion)`` gives the network it runs (it still builds its own first)."""
    source = (clone / SCRIPT).read_text()
    patches = {**PATCHES, "iter_num                = 20": f"iter_num = {iter_num}"}
    for old, new in patches.items():
        if source.count(old) != 1:
            sys.exit(f"{clone / SCRIPT}: expected one line {old!r} (a different commit than 111d26e?)")
        source = source.replace(old, new)
    source = source.replace("model = RESTORA_MODEL", "model = RESTORA_MODEL(diffusion)")
    if str(clone) not in sys.path:
        sys.path.insert(0, str(clone))
    namespace = {"__name__": "official_diffpir", "RESTORA_MODEL": model_for}
    exec(compile(source, str(clone / SCRIPT), "exec"), namespace)
    return namespace


def write_inputs(work: Path, images, mask: torch.Tensor) -> None:
    """restora's crops and mask as the PNGs the script reads (testsets/restora/*, testsets/mask.png)."""
    folder = work / "testsets" / "restora"
    folder.mkdir(parents=True)
    for name, img in images:
        Image.fromarray(to_uint8(as_unit(img))).save(folder / f"{name}.png")
    keep = mask[0].expand(3, -1, -1)
    Image.fromarray(to_uint8(keep)).save(work / "testsets" / "mask.png")


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[0, 1] CHW (or 1CHW) -> HWC uint8."""
    return (img.squeeze(0).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def read_outputs(work: Path, names: list[str]) -> torch.Tensor:
    """The script's estimates (results/<run>/<name>_<model>.png) as [0, 1] NCHW."""
    out = []
    for name in names:
        (path,) = (work / "results").glob(f"*/{name}_*.png")
        out.append(torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def quality(args, clone: Path) -> list[dict]:
    """Official loop vs restora's DiffPIR (its defaults and the official ending) on inpaint-box."""
    images = centre_crops(data_root() / "test" / "CBSD68", args.size, args.limit)
    x = torch.cat([img for _, img in images])
    ref = as_unit(x)
    op = BENCHMARK_TASKS["inpaint-box"].operator([0], x.shape)
    y = op.measure(x, 0.0, torch.Generator().manual_seed(7))
    prior = load("default")
    rows = []

    def record(label: str, estimates: list[torch.Tensor], seconds: float) -> None:
        scores = [float(psnr(e, ref, quantize=True).mean()) for e in estimates]
        mean, sem = mean_sem(scores)
        rows.append({"task": "inpaint-box", "method": label, "psnr": mean, "psnr_sem": sem,
                     "psnr_seeds": scores, "ssim": sum(float(ssim(e, ref, quantize=True).mean())
                                                       for e in estimates) / len(estimates),
                     "seconds_per_image": seconds / len(estimates) / len(x)})
        print(f"inpaint-box {label:40s} {mean:.2f} +- {sem:.2f} dB", flush=True)

    estimates, seconds = [], 0.0
    main = official_main(clone, lambda diffusion: EpsModel(prior, diffusion.alphas_cumprod))["main"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_inputs(work, images, op.mask)
        with contextlib.chdir(work):
            for seed in range(args.seeds):  # each run overwrites the script's output PNGs
                torch.manual_seed(100 + seed)
                start = time.perf_counter()
                main()
                seconds += time.perf_counter() - start
                estimates.append(read_outputs(work, [n for n, _ in images]))
    record("official DiffPIR script", estimates, seconds)
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
        record(label, estimates, seconds)
    return rows


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
    script = official_main(clone, lambda diffusion: nets[0], iter_num=args.speed_steps)
    config = dict(model_path="", num_channels=128, num_res_blocks=1, attention_resolutions="16")
    options = script["utils_model"].create_argparser(config).parse_args([])
    torch.manual_seed(0)
    start = time.perf_counter()
    net, _ = script["create_model_and_diffusion"](**script["args_to_dict"](
        options, script["model_and_diffusion_defaults"]().keys()))
    build = time.perf_counter() - start
    nets.append(net.eval())
    with tempfile.TemporaryDirectory() as tmp:
        write_inputs(Path(tmp), images, op.mask)
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
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/peers/official.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    clone = args.clone.resolve()
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.exists() else {}
    result = {"meta": {"clone": str(clone), "script": SCRIPT, "patched": list(PATCHES), "size": args.size,
                       "seeds": args.seeds, "nfe": 20, "environment": environment()},
              "rows": quality(args, clone) if args.limit else previous.get("rows", []),
              "speed": speed(args, clone) if args.speed else previous.get("speed", [])}
    write_json(out, result)


if __name__ == "__main__":
    main()
