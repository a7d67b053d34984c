"""The official DiffPIR inpainting script (github.com/yuanzhi-zhu/DiffPIR, ``main_ddpir_inpainting.py``,
read at commit 111d26e; a local clone, never fetched) run over restora's prior, for
``benchmarks/official_diffpir.py``.

The script runs unchanged except for the lines :data:`PATCHES` replaces: the test folder and mask (restora's
images as PNGs and restora's centred box, written to a scratch folder), LPIPS off (no weights offline) and
the network: a restora prior wrapped as a guided-diffusion epsilon model (:class:`EpsModel`), so both loops
call the same denoiser. Without torchvision (the script imports ``make_grid`` and never calls it) a stub
stands in for it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import tempfile
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restora.io import to_uint8
from restora.pictures import as_unit
from restora.priors.base import Prior

MODEL_LINE = 'model.load_state_dict(torch.load(args.model_path, map_location="cpu"))'


@dataclass(frozen=True)
class Script:
    """One of the clone's scripts: its file, the lines replaced (``NFE`` in a value is the run's NFE) and
    where it writes an image's estimate (``{name}``: the image's name)."""

    file: str
    patches: Mapping[str, str]
    estimate: str


INPAINTING = Script("main_ddpir_inpainting.py", {
    "testset_name            = 'demo_test'": "testset_name = 'restora'",
    "mask_name               = 'gt_keep_masks/face/000000.png'": "mask_name = 'mask.png'",
    "load_mask               = False": "load_mask = True",
    "calc_LPIPS              = True": "calc_LPIPS = False",
    "iter_num                = 20": "iter_num = NFE",
    MODEL_LINE: "model = RESTORA_MODEL(diffusion)",
}, "*/{name}_*.png")
"""Its 20 NFE, lambda 1, zeta 1, noiseless: what restora's inpainting defaults copy."""

SUPER_RESOLUTION = Script("main_ddpir_sisr.py", {
    "testset_name            = 'demo_test'": "testset_name = 'restora'",
    "calc_LPIPS              = True": "calc_LPIPS = False",
    "save_E                  = False": "save_E = True",
    "save_L                  = True": "save_L = False",
    "save_progressive        = True": "save_progressive = False",
    "iter_num                = 100": "iter_num = NFE",
    "lambdas = [lambda_*i for i in range(2,13)]": "lambdas = [lambda_]",
    MODEL_LINE: "model = RESTORA_MODEL(diffusion)",
}, "*/{name}_x4_k*.png")
"""4x bicubic SR, noise 12.75/255, 100 NFE, lambda 1 (configs/sisr.yaml; the script sweeps lambda 2..12 at
zeta 0.25 and reports each: one lambda, the config's, is run), zeta 0.25; progress and LR pictures off (I/O,
not the method)."""

PATCHES = INPAINTING.patches  # the inpainting script's, as the records name them
SCRIPT = INPAINTING.file


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


def official_main(clone: Path, model_for, nfe: int = 20, script: Script = INPAINTING) -> dict:
    """The namespace of the clone's ``script`` with its patches applied (its ``main`` not yet run) at ``nfe``
    network calls; ``model_for(diffusion)`` gives the network it runs (it still builds its own first)."""
    source = (clone / script.file).read_text()
    for old, new in script.patches.items():
        if source.count(old) != 1:
            sys.exit(f"{clone / script.file}: expected one line {old!r} (a different commit than 111d26e?)")
        source = source.replace(old, new.replace("NFE", str(nfe)))
    if str(clone) not in sys.path:
        sys.path.insert(0, str(clone))
    if "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is None:  # only imported
        stub = types.ModuleType("torchvision.utils")
        stub.make_grid = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("torchvision stub"))
        sys.modules.setdefault("torchvision", types.ModuleType("torchvision")).utils = stub
        sys.modules["torchvision.utils"] = stub
    namespace = {"__name__": "official_diffpir", "RESTORA_MODEL": model_for}
    exec(compile(source, str(clone / script.file), "exec"), namespace)
    return namespace


def write_inputs(work: Path, images, mask: torch.Tensor | None, clone: Path) -> None:
    """restora's crops and mask as the PNGs the script reads (testsets/restora/*, testsets/mask.png), and the
    clone's kernels folder, which the SR script reads from the working folder."""
    folder = work / "testsets" / "restora"
    folder.mkdir(parents=True)
    for name, img in images:
        Image.fromarray(to_uint8(as_unit(img))).save(folder / f"{name}.png")
    if mask is not None:
        Image.fromarray(to_uint8(mask[0].expand(3, -1, -1))).save(work / "testsets" / "mask.png")
    (work / "kernels").symlink_to(clone / "kernels")


def read_outputs(work: Path, names: list[str], script: Script = INPAINTING) -> torch.Tensor:
    """The script's estimates (results/<run>/<name>_...png) as [0, 1] NCHW."""
    out = []
    for name in names:
        (path,) = (work / "results").glob(script.estimate.format(name=name))
        out.append(torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def official_runs(clone: Path, images: list[tuple[str, torch.Tensor]], mask: torch.Tensor | None,
                  prior: Prior, seeds: int, script: Script = INPAINTING,
                  nfe: int = 20) -> tuple[list[torch.Tensor], float]:
    """The script's estimates ([0, 1]) of ``images`` for seeds 100, 101, ... and its seconds per image, less
    the build of its own network that each run does first (timed alone here)."""
    namespace = official_main(clone, lambda diffusion: EpsModel(prior, diffusion.alphas_cumprod), nfe, script)
    config = dict(model_path="", num_channels=128, num_res_blocks=1, attention_resolutions="16")
    options = namespace["utils_model"].create_argparser(config).parse_args([])
    start = time.perf_counter()
    namespace["create_model_and_diffusion"](**namespace["args_to_dict"](
        options, namespace["model_and_diffusion_defaults"]().keys()))
    build = time.perf_counter() - start
    estimates, seconds = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_inputs(work, images, mask, clone)
        with contextlib.chdir(work):
            for seed in range(seeds):  # each run overwrites the script's output PNGs
                torch.manual_seed(100 + seed)
                start = time.perf_counter()
                namespace["main"]()
                seconds += time.perf_counter() - start - build
                estimates.append(read_outputs(work, [n for n, _ in images], script))
    return estimates, seconds / seeds / len(images)


def sr_measurement(clone: Path, images: list[tuple[str, torch.Tensor]]) -> torch.Tensor:
    """The SR script's own measurement of each crop, on [-1, 1] (NCHW): its MATLAB-style bicubic
    ``imresize_np`` of the 8-bit image, plus N(0, (2 * 12.75/255)^2) noise drawn with np.random.seed(0) for
    every image, as lines 215-226 of ``main_ddpir_sisr.py`` make it."""
    namespace = official_main(clone, lambda diffusion: None, 100, SUPER_RESOLUTION)
    util = namespace["util"]
    out = []
    for _, img in images:
        low = util.imresize_np(to_uint8(as_unit(img)).astype(np.float64) / 255, 1 / 4)
        noise = np.random.RandomState(0).normal(0, 12.75 / 255 * 2, low.shape)  # the script's seeded stream
        noisy = low * 2 - 1 + noise
        out.append(torch.from_numpy(noisy).permute(2, 0, 1).float())
    return torch.stack(out)
