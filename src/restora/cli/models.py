"""``restora models list|info|convert``: the known priors, and safe checkpoint conversion."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from restora.cli.log import LOG
from restora.errors import RestoraError


def run_list(args: argparse.Namespace) -> int:
    from restora.priors import list_models

    models = list_models()
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    print("| name | aliases | kind | parameters | native size | noise range ([-1,1]) | weights |")
    print("|---|---|---|---:|---:|---|---|")
    for m in models:
        where = m["path"] if m["available"] else f"missing: {m['source']}" if m["kind"] == "ffdnet" else \
            "missing (see `restora models info`)"
        print(f"| {m['name']} | {', '.join(m['aliases'])} | {m['kind']} | {m['parameters'] / 1e6:.1f} M | "
              f"{m['native_size'] or 'any'} | {m['sigma_min']:.3g} .. {m['sigma_max']:.3g} | {where} |")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from restora import priors
    from restora.priors.loaders import load_state_dict, read_metadata

    path = Path(args.name).expanduser()
    if path.is_file():
        state = load_state_dict(path)
        meta = read_metadata(path)
        info = {"file": str(path), "tensors": len(state),
                "parameters": sum(v.numel() for v in state.values() if v.is_floating_point()),
                "dtypes": sorted({str(v.dtype).replace("torch.", "") for v in state.values()}),
                "metadata": meta}
        from restora.priors.registry import identify_preset

        if meta.get("format") is None:
            info["preset"] = identify_preset(state)
    else:
        info = priors.info(args.name)
    print(json.dumps(info, indent=2, default=str))
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from restora.priors.loaders import convert, load_state_dict

    src, dst = Path(args.src).expanduser(), Path(args.dst).expanduser()
    if dst.suffix != ".safetensors":
        raise RestoraError(f"OUT must end in .safetensors, got {dst.name}")
    if dst.exists() and not args.force:
        raise RestoraError(f"{dst} exists; pass --force to overwrite it")
    if src.resolve() == dst.resolve():
        raise RestoraError("IN and OUT are the same file")
    convert(src, dst)
    state = load_state_dict(dst)
    n = sum(v.numel() for v in state.values())
    LOG.info(f"wrote {dst} ({len(state)} tensors, {n / 1e6:.1f} M values) from {src}")
    return 0
