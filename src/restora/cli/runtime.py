"""Where a command runs: the device, the CPU thread count, and the process's place under ``torchrun``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from restora.errors import RestoraError


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


def set_threads(threads: int | None) -> int:
    """``--threads``, else :func:`default_threads`; returns the count in effect."""
    torch.set_num_threads(threads or default_threads())
    return torch.get_num_threads()


def default_threads() -> int:
    """CPU threads for torch when --threads is not given: the cores not already busy (cores minus the
    1-minute load average, at least 1). On a loaded machine torch's own default (one thread per core)
    makes the threads wait for each other, measured 20x slower than one thread (docs/performance.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, round(cores - busy)))


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


def persistent_compile_cache() -> str:
    """Point torch's on-disk compile caches (FX graphs, AOTAutograd) at
    ``$XDG_CACHE_HOME/restora/torch-compile`` (default ~/.cache) instead of its /tmp default, so that a
    reboot does not cost the next run the full compilation; a TORCHINDUCTOR_CACHE_DIR the user set wins.
    Returns the folder in effect."""
    if not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(base, "restora", "torch-compile")
    return os.environ["TORCHINDUCTOR_CACHE_DIR"]
