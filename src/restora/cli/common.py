"""Pieces shared by the subcommands: messages, exit codes, ``KEY=VALUE`` options, input lists,
devices, priors (``NAME:PATH`` / ``NAME:random``), progress bars and ``torchrun`` ranks."""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from restora.errors import RestoraError
from restora.io import IMAGE_SUFFIXES, atomic_write

EXIT_OK = 0
EXIT_FAILED = 1  # the run started, but some input (or the whole run) failed at run time
EXIT_USAGE = 2  # the command cannot run as given: nothing was processed

# Files written next to measurements by `restora degrade` that are not measurements themselves.
AUX_SUFFIXES = (".kernel.npy", ".mask.png", ".mask.npy")


class Console:
    """Where messages go: results and progress notes on stdout, warnings and errors on stderr."""

    quiet = False
    progress = True
    debug = False
    rank = 0

    @classmethod
    def info(cls, msg: str) -> None:
        if not cls.quiet and cls.rank == 0:
            print(msg, flush=True)

    @staticmethod
    def warn(msg: str) -> None:
        print(f"restora: warning: {msg}", file=sys.stderr, flush=True)

    @classmethod
    def error(cls, msg: str, exc: BaseException | None = None) -> None:
        """One line on stderr; with --debug the traceback of ``exc`` first."""
        if cls.debug and exc is not None and exc.__traceback__ is not None:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        print(f"restora: error: {msg}", file=sys.stderr, flush=True)


def one_line(exc: BaseException | str) -> str:
    """An exception as one line (its type is named unless it is a RestoraError or an OSError)."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if isinstance(exc, BaseException) and not isinstance(exc, RestoraError | OSError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or "unknown error"


@contextlib.contextmanager
def forward_warnings(prefix: str = "") -> Iterator[None]:
    """Show library warnings (e.g. 'alpha channel dropped') as one ``restora: warning:`` line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, UserWarning | RuntimeWarning):
            text = str(w.message)
            name = prefix.rstrip(": ")
            Console.warn(text if name and text.startswith(name) else f"{prefix}{text}")


def progress(iterable: Iterable | None = None, **kwargs: Any):
    """A tqdm bar on stderr (off with --no-progress, when stderr is not a terminal, and off rank 0)."""
    from tqdm import tqdm

    disable = True if (not Console.progress or Console.rank != 0) else None
    kwargs.setdefault("leave", False)
    return tqdm(iterable, disable=disable, file=sys.stderr, dynamic_ncols=True, **kwargs)


# ------------------------------------------------------------------------------------- values


def parse_value(text: str) -> Any:
    """'7' -> 7, '0.3' -> 0.3, 'true' -> True, 'none' -> None, anything else stays a string."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_pairs(pairs: Sequence[str] | None, flag: str) -> dict[str, Any]:
    """``['lam=7', 'zeta=0.3']`` -> ``{'lam': 7, 'zeta': 0.3}`` (keys may use '-' for '_')."""
    out: dict[str, Any] = {}
    for item in pairs or ():
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise RestoraError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {flag} lam=7")
        if key in out:
            raise RestoraError(f"{flag} {key} is given twice")
        out[key] = parse_value(value)
    return out


def check_sigma(value: float, flag: str = "--sigma-y") -> float:
    if not (math.isfinite(value) and value >= 0):
        raise RestoraError(f"{flag} must be a finite number >= 0, got {value}")
    return float(value)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def int_list(text: str) -> list[int]:
    """argparse type: '1,4,16' -> [1, 4, 16] (each >= 1)."""
    return [positive_int(part) for part in text.split(",") if part.strip()]


def str_list(text: str) -> list[str]:
    """argparse type: 'a,b' -> ['a', 'b']."""
    return [part.strip() for part in text.split(",") if part.strip()]


# ------------------------------------------------------------------------------------- solvers

RESERVED_SOLVER_KEYWORDS = ("steps", "sigma_y", "generator", "callback")


def solver_keywords(fn: Callable) -> dict[str, Any]:
    """The method-specific keywords of a solver function (name -> default), i.e. what ``--opt``
    may set: its keyword arguments except the shared ones and tensor-valued ones (``x_init``)."""
    out = {}
    for name, par in inspect.signature(fn).parameters.items():
        if par.kind is not inspect.Parameter.KEYWORD_ONLY or name in RESERVED_SOLVER_KEYWORDS:
            continue
        if "Tensor" in str(par.annotation):
            continue
        out[name] = par.default
    return out


def check_solver_options(name: str, fn: Callable, options: dict[str, Any]) -> dict[str, Any]:
    """Validate ``--opt`` keys against the solver's signature and coerce numbers to the defaults' types."""
    allowed = solver_keywords(fn)
    out = {}
    for key, value in options.items():
        if key in RESERVED_SOLVER_KEYWORDS:
            raise RestoraError(f"--opt {key}=...: use the --{key.replace('_', '-')} option instead")
        if key not in allowed:
            names = ", ".join(f"{k} (default {allowed[k]!r})" for k in allowed) or "none"
            raise RestoraError(f"solver {name!r} has no option {key!r}; its --opt keys are: {names}")
        default = allowed[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise RestoraError(f"--opt {key}: expected true or false, got {value!r}")
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(default, int) and isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(default, int | float) and not isinstance(default, bool) and value is not None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise RestoraError(f"--opt {key}: expected a number, got {value!r}")
        out[key] = value
    return out


# ------------------------------------------------------------------------------------- inputs


def is_aux_file(path: Path) -> bool:
    """Kernel / mask files that `restora degrade` writes next to the measurements."""
    return path.name.lower().endswith(AUX_SUFFIXES)


def expand_inputs(paths: Sequence[str], *, tensors: bool) -> list[Path]:
    """Files and folders -> one sorted list of paths (folders give the images directly inside them,
    plus ``.npy`` measurements with ``tensors``; where ``X.npy`` and ``X.png`` both exist the lossless
    ``.npy`` is taken). Paths that do not exist are kept, to fail (and be reported) one by one."""
    suffixes = (*IMAGE_SUFFIXES, ".npy") if tensors else IMAGE_SUFFIXES
    found: dict[Path, Path] = {}
    empty = []
    for text in paths:
        p = Path(text).expanduser()
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in suffixes
                           and not is_aux_file(f))
            stems_npy = {f.stem for f in files if f.suffix.lower() == ".npy"}
            files = [f for f in files if f.suffix.lower() == ".npy" or f.stem not in stems_npy]
            if not files:
                empty.append(str(p))
            for f in files:
                found.setdefault(f.resolve(), f)
        else:
            found.setdefault(p.resolve() if p.exists() else p.absolute(), p)
    if empty:
        Console.warn(f"no images in {', '.join(empty)}")
    if not found:
        raise RestoraError(f"no input images found in {', '.join(paths)}")
    return sorted(found.values(), key=lambda f: str(f))


def check_outputs(files: Sequence[Path], out: Path, suffixes: Sequence[str] = (".png",)) -> None:
    """Outputs are named OUT/<input stem><suffix>: refuse two inputs with one stem (they would overwrite
    each other) and outputs that would overwrite an input."""
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise RestoraError(f"two inputs would write the same output {f.stem!r}: {seen[f.stem]} and {f}; "
                               "rename one or process them in separate runs")
        seen[f.stem] = f
        for suffix in suffixes:
            target = out / f"{f.stem}{suffix}"
            if f.exists() and target.exists() and target.resolve() == f.resolve():
                raise RestoraError(f"the output {target} would overwrite the input {f}; "
                                   "choose another -o folder")


def prepare_output_dir(path: str | Path) -> Path:
    """Create the output folder and check that files can be written there."""
    out = Path(path).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise RestoraError(f"output folder {out} is not writable: {exc.strerror or exc}") from exc
    return out


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a text file through a temporary file in the same folder and a rename."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, newline="")
    return path


def write_json_atomic(path: Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


# ------------------------------------------------------------------------------------- devices


def resolve_device(name: str | None, local_rank: int | None = None) -> torch.device:
    """'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1', 'mps'; under torchrun a bare 'cuda'
    becomes the rank's local GPU."""
    if name in (None, "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise RestoraError(f"--device {name!r} is not a device (use cpu, cuda, cuda:N or auto)") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RestoraError("--device cuda: CUDA is not available here (CPU-only torch or no GPU); "
                               "use --device cpu")
        if dev.index is None:
            dev = torch.device("cuda", local_rank or 0)
        if dev.index >= torch.cuda.device_count():
            raise RestoraError(f"--device {dev}: only {torch.cuda.device_count()} GPU(s) visible")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise RestoraError("--device mps: MPS is not available here; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise RestoraError(f"--device {name!r}: use cpu, cuda, cuda:N, mps or auto")
    return dev


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------- priors


@dataclass
class PriorInfo:
    """What was loaded, for logs, summaries and benchmark records."""

    spec: str
    name: str
    weights: str  # 'random', or the weights file / 'preset' where the registry found it
    native_size: int | None
    size_multiple: int
    channels: int
    dtype: str = "fp32"  # the runtime knobs in effect (--dtype auto resolved)
    channels_last: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _preset(name: str):
    from restora.priors.registry import PRESETS

    for spec in PRESETS.values():
        if name == spec.name or name in spec.aliases:
            return spec
    return None


def random_prior(name: str):
    """A preset's architecture with random weights (seed 0): enough to time it, useless to restore."""
    spec = _preset(name)
    if spec is None:
        raise RestoraError(f"'{name}:random': {name!r} is not a preset; random weights need one of "
                           f"{preset_names()}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if spec.kind == "adm":
            from restora.priors.adm import build_adm_prior

            prior = build_adm_prior(dict(spec.config))
        else:
            from restora.priors.unet import build_restora_prior
            from restora.train import MODEL_SIZES

            prior = build_restora_prior(MODEL_SIZES["small"])
    return prior.eval().requires_grad_(False)


def preset_names() -> list[str]:
    from restora.priors.registry import PRESETS

    return [n for s in PRESETS.values() for n in (s.name, *s.aliases)]


def load_prior(spec: str, weights: str | None = None, *, device: torch.device | None = None,
               dtype: str = "fp32", channels_last: bool | None = False, compile: bool = False):
    """Load ``--prior``: a preset name (``default``, ``adm-ffhq256``, ...), ``NAME:PATH`` (preset +
    weights file), ``NAME:random``, a weights file, ``adm:CONFIG.json`` / ``diffusers:FOLDER``; an
    extra ``weights`` file goes with a name or ``adm:CONFIG.json``. ``dtype="auto"`` and
    ``channels_last=None`` take the device's fastest setting (:meth:`restora.priors.base.Prior.configure`).
    Returns (prior, PriorInfo)."""
    from restora.priors import load

    name, sep, rest = spec.partition(":")
    preset = _preset(name) if sep else None
    if preset is not None and rest == "random":
        prior, source = random_prior(name), "random"
    elif preset is not None:
        if weights is not None:
            raise RestoraError(f"--prior {spec} already names a weights file; drop --weights")
        if not Path(rest).expanduser().is_file():
            raise RestoraError(f"--prior {spec}: no such weights file {rest}")
        prior, source = load(name, Path(rest).expanduser()), str(Path(rest).expanduser())
    else:
        try:
            prior = load(spec, weights)
        except RestoraError as exc:
            if _preset(spec) is not None and weights is None and _preset(spec).kind == "adm":
                raise RestoraError(f"{exc}\non the command line: --prior {spec}:WEIGHTS_FILE") from exc
            raise
        local = _preset(spec)
        if weights is not None:
            source = str(weights)
        elif local is not None:
            from restora.priors import model_info

            source = model_info(local.name).get("path") or local.name
        else:
            source = spec
    prior = prior.eval().requires_grad_(False)
    if device is not None:
        prior = prior.to(device)
    prior.configure(dtype=dtype, channels_last=channels_last, compile=compile)
    canonical = preset or _preset(spec)
    info = PriorInfo(spec=spec, name=canonical.name if canonical is not None else spec, weights=source,
                     native_size=prior.native_size, size_multiple=prior.size_multiple,
                     channels=prior.channels, dtype=prior.dtype_name, channels_last=prior.channels_last)
    return prior, info


def wrap_tiled(prior, height: int, width: int, tile: int | None, overlap: int):
    """The prior tiled for an image of height x width (``tile`` None: tile fixed-size priors when the
    image is larger than their native size; 0: never; N: tiles of N pixels)."""
    from restora.tiling import TiledPrior

    if tile == 0:
        return prior, None
    native = getattr(prior, "native_size", None)
    size = tile or native
    if size is None or (height <= size and width <= size):
        return prior, None
    if not 0 <= overlap < size:
        raise RestoraError(f"--tile-overlap must be in [0, {size}), got {overlap}")
    return TiledPrior(prior, tile=size, overlap=overlap), size


# ------------------------------------------------------------------------------------- ranks


@dataclass
class Ranks:
    """This process's place under ``torchrun`` (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    initialized: bool = False
    device: torch.device | None = None

    @classmethod
    def from_env(cls) -> Ranks:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(rank=int(os.environ.get("RANK", "0")), world=world,
                   local_rank=int(os.environ.get("LOCAL_RANK", "0")))

    def init(self, device: torch.device) -> None:
        """Join the process group (NCCL for CUDA, else gloo) when there is more than one rank."""
        if self.world <= 1 or self.initialized:
            return
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
        self.initialized, self.device = True, device

    def barrier(self) -> None:
        if self.initialized:
            import torch.distributed as dist

            if self.device is not None and self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def all_sum(self, value: int) -> int:
        if not self.initialized:
            return value
        import torch.distributed as dist

        dev = self.device if self.device is not None and self.device.type == "cuda" else torch.device("cpu")
        t = torch.tensor([value], dtype=torch.int64, device=dev)
        dist.all_reduce(t)
        return int(t.item())

    def close(self) -> None:
        if self.initialized:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.initialized = False

    def shard(self, items: Sequence[Any]) -> list[tuple[int, Any]]:
        """(global index, item) of this rank's share: items rank, rank + world, ..."""
        return [(i, item) for i, item in enumerate(items) if i % self.world == self.rank]
