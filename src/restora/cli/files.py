"""Files of a run: input lists, output folders that are checked but created only when written, guards
against overwriting anything the run reads, atomic text writes, and what counts as a finished output."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from restora.cli.log import LOG
from restora.errors import RestoraError
from restora.io import IMAGE_SUFFIXES, atomic_write

AUX_SUFFIXES = (".kernel.npy", ".mask.png", ".mask.npy")
"""Files written next to measurements by `restora degrade` that are not measurements themselves."""


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
        LOG.warning(f"no images in {', '.join(empty)}")
    if not found:
        raise RestoraError(f"no input images found in {', '.join(paths)}")
    return sorted(found.values(), key=lambda f: str(f))


def check_unique_stems(files: Sequence[Path]) -> None:
    """Outputs are named OUT/<input stem>...: two inputs with one stem would overwrite each other."""
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise RestoraError(f"two inputs would write the same output {f.stem!r}: {seen[f.stem]} and {f}; "
                               "rename one or process them in separate runs")
        seen[f.stem] = f


def check_no_overwrite(outputs: Iterable[Path], read: Mapping[Path, str]) -> None:
    """Refuse (before anything is written) any output that is one of the files the run reads
    (``read``: path -> what it is, e.g. 'the reference'), whatever the path's spelling."""
    protected = {_real(p): (p, what) for p, what in read.items()}
    for target in outputs:
        hit = protected.get(_real(target))
        if hit is not None:
            raise RestoraError(f"the output {target} would overwrite {hit[1]} {hit[0]}, which this run "
                               "reads; choose another -o")


def check_not_folder(out: Path, folder: Path, what: str) -> None:
    """Refuse an output folder that is ``folder`` (one the run reads, e.g. --reference)."""
    if _real(out) == _real(folder):
        raise RestoraError(f"-o {out} is {what} ({folder}): outputs there would replace the files the run "
                           "reads; choose another -o folder")


def _real(path: Path) -> Path:
    path = Path(path).expanduser()
    return path.resolve() if path.exists() or path.parent.exists() else path.absolute()


def check_output_dir(path: str | Path) -> Path:
    """Check that the output folder can be created and written, without creating it: outputs create it
    when they are written, so a run that stops at its checks leaves nothing behind."""
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise RestoraError(f"output folder {out} is not writable: it is a file")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise RestoraError(f"output folder {out} is not writable: no write permission on {parent}")
    return out


def check_output_file(path: str | Path) -> Path:
    """Check that the file ``path`` can be written (its folder exists or can be created, and is writable)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise RestoraError(f"{target} is a folder; give a file name")
    if target.parent.exists() and not target.parent.is_dir():
        raise RestoraError(f"cannot write {target}: {target.parent} is a file, not a folder")
    check_output_dir(target.parent)
    if target.exists() and not os.access(target, os.W_OK):
        raise RestoraError(f"{target} is not writable")
    return target


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a text file through a temporary file in the same folder and a rename."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, newline="")
    return path


def write_json_atomic(path: Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def is_complete_image(path: Path) -> bool:
    """Whether ``path`` is a finished image: it exists, is not empty and decodes (a crash or a full disk
    can leave a 0-byte or truncated file that must not count as done)."""
    from PIL import Image

    try:
        if path.stat().st_size == 0:
            return False
        with Image.open(path) as im:
            im.load()
        return True
    except (OSError, SyntaxError, ValueError):
        return False
