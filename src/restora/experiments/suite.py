"""The benchmark suite: the ordered list of (records, command) that ``benchmarks/run_all.sh`` runs and the
document generator reads (``benchmarks/suite.toml``), so that every table names a record some command
writes and the two cannot drift apart."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from string import Template

from restora.errors import RestoraError
from restora.priors.registry import BUNDLED_FILE

VARIABLES = {"BUNDLED_WEIGHTS": f"src/restora/weights/{BUNDLED_FILE}"}
"""What ``$NAME`` in a step means besides the environment: the bundled weights file, from the registry."""

CONDITIONS = {
    "bf16": lambda root: bool(re.search(r"avx512_bf16|amx_bf16", _cpuinfo())),
    "peers": lambda root: (root / ".venv-peers" / "bin" / "python").exists(),
    "clone": lambda root: bool(os.environ.get("DIFFPIR_CLONE")),
}


def expand(text: str) -> str:
    return Template(text).safe_substitute({**os.environ, **VARIABLES})


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


@dataclass(frozen=True)
class Step:
    """One command of the suite and the record (a file or folder under benchmarks/) it writes."""

    records: str
    command: str
    when: str | None = None
    python: str | None = None

    def argv(self, python: str) -> list[str]:
        """The command line, its ``$VARIABLES`` expanded (:data:`VARIABLES`, then the environment)."""
        return [self.python or python, *shlex.split(expand(self.command))]


@dataclass(frozen=True)
class Suite:
    steps: tuple[Step, ...]
    frozen: tuple[str, ...]
    folder: Path  # benchmarks/: where records are named from

    def known(self, record: Path) -> bool:
        """Whether ``record`` is (inside) one a step writes or a frozen one."""
        names = [s.records for s in self.steps] + list(self.frozen)
        record = record.resolve()
        return any(record == (self.folder / n).resolve() or (self.folder / n).resolve() in record.parents
                   for n in names)

    def command_for(self, record: Path) -> str | None:
        """The last command that writes ``record``, as one line."""
        found = [s for s in self.steps if (self.folder / s.records).resolve() in
                 (record.resolve(), *record.resolve().parents)]
        return f"python {found[-1].command}" if found else None


def load_suite(path: Path) -> Suite:
    """Read and check a suite file: every step has a record and a command, every condition is known."""
    data = tomllib.loads(Path(path).read_text())
    steps = []
    for k, raw in enumerate(data.get("step", [])):
        unknown = set(raw) - {"records", "command", "when", "python"}
        if unknown or not raw.get("records") or not raw.get("command"):
            raise RestoraError(f"{path}: step {k + 1} needs records and command (unknown keys: {unknown})")
        if raw.get("when") not in (None, *CONDITIONS):
            raise RestoraError(f"{path}: step {k + 1}: when={raw['when']!r}, expected one of "
                               f"{list(CONDITIONS)}")
        steps.append(Step(**{**raw, "records": expand(raw["records"])}))
    return Suite(tuple(steps), tuple(data.get("frozen", {}).get("records", [])), Path(path).parent)


def run_suite(suite: Suite, python: str, root: Path) -> None:
    """Run every step whose condition holds, in order, from ``root``; stops at the first failure."""
    for step in suite.steps:
        if step.when and not CONDITIONS[step.when](root):
            print(f"skipped ({step.when} not available): {step.command}", flush=True)
            continue
        print(f"+ {shlex.join(step.argv(python))}", flush=True)
        subprocess.run(step.argv(python), cwd=root, check=True)


def main(argv: list[str] | None = None) -> None:
    """``python -m restora.experiments.suite SUITE.toml [--list]``: run (or list) a suite's steps."""
    import argparse
    import sys

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("suite", type=Path)
    p.add_argument("--list", action="store_true", help="print the steps, run nothing")
    args = p.parse_args(argv)
    suite = load_suite(args.suite)
    root = suite.folder.parent
    if args.list:
        for step in suite.steps:
            print(f"{step.records}: {shlex.join(step.argv('python'))}")
        return
    run_suite(suite, sys.executable, root)


if __name__ == "__main__":
    main()
