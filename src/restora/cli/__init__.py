"""The ``restora`` command line: restore, degrade, eval, sample, bench, models, baseline, train.

Exit status: 0 success; 1 the command ran but something failed at run time (some inputs could not
be processed, the others were; a runtime error); 2 the command cannot run as given (bad arguments,
unknown task / solver / prior, invalid values, unusable kernel / mask / weights files, output folder
not writable), nothing was processed. Errors are one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from restora.cli.log import LOG, error, one_line, setup
from restora.errors import RestoraError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EXAMPLES = """examples:
  restora degrade clean/ --task sr4 --sigma-y 0.05 -o measured/
  restora restore measured/ --solver diffpir --steps 50 -o restored/ --reference clean/ --grid
  restora eval restored/ clean/ --crop-border 4
  restora sample --prior default -n 4 --size 128 -o samples/
  restora bench --solver diffpir,dps --prior adm-ffhq256:random --batch 1,4 -o bench.json
  restora models list
  restora baseline measured/ --model srmd -o srmd/ --reference clean/
  restora train --data photos/ --out runs/natural

`restora COMMAND --help` shows each command's options and more examples; docs/cli.md has the rest.
exit status: 0 ok, 1 something failed at run time (other inputs still processed), 2 bad command.
"""

GLOBAL_FLAGS = ("--debug", "-q", "--quiet", "--no-progress")


def _version() -> str:
    import torch

    import restora

    return f"restora {restora.__version__} (torch {torch.__version__}, python {sys.version.split()[0]})"


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line on stderr (exit 2), pointing at --help; a ``lazy_epilog``
    (a function) is added to the help text only when the help is shown."""

    lazy_epilog = None

    def error(self, message: str):
        LOG.error(f"{message} (see `{self.prog} --help`)")
        raise SystemExit(EXIT_USAGE)

    def format_help(self) -> str:
        if self.lazy_epilog is not None:
            self.epilog, self.lazy_epilog = (self.epilog or "") + self.lazy_epilog(), None
        return super().format_help()


class _Version(argparse.Action):
    """--version: the versions are read (torch imported) only when it is asked for."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the versions and exit", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(_version())
        parser.exit()


def _global_options() -> argparse.ArgumentParser:
    g = argparse.ArgumentParser(add_help=False)
    g.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks of errors")
    g.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="only warnings and errors")
    g.add_argument("--no-progress", action="store_true", default=argparse.SUPPRESS,
                   help="no progress bars or progress lines")
    return g


def build_parser() -> argparse.ArgumentParser:
    """Every command's options (:mod:`restora.cli.arguments`); nothing heavy is imported."""
    from restora.cli import arguments

    glob = _global_options()
    parser = _Parser(
        prog="restora", parents=[glob],
        description="Zero-shot image restoration with diffusion priors.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for add in (arguments.add_restore, arguments.add_degrade, arguments.add_evaluate, arguments.add_sample,
                arguments.add_bench, arguments.add_models, arguments.add_baseline):
        add(sub, [glob])
    sub.add_parser("train", help="train a restora prior (`restora train --help`)", add_help=False)
    return parser


def _call(fn: Callable, args: object, debug: bool) -> int:
    """The one error path: a RestoraError is exit 2, anything else exit 1, each one line."""
    try:
        return int(fn(args) or 0)
    except RestoraError as exc:
        error(exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        LOG.error("interrupted")
        return 130
    except Exception as exc:
        LOG.error(one_line(exc) + ("" if debug else " (run with --debug for the traceback)"), exc_info=exc)
        return EXIT_FAILED


def _exit_code(exc: SystemExit) -> int:
    return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_FAILED)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (also for --help, --version and usage errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    lead = 0
    while lead < len(argv) and argv[lead] in GLOBAL_FLAGS:
        lead += 1
    debug = "--debug" in argv
    setup(quiet=any(f in argv for f in ("-q", "--quiet")), debug=debug)
    if lead < len(argv) and argv[lead] == "train":  # its own argparse, unchanged
        from restora.cli.train import main as train_main

        try:
            return _call(train_main, argv[lead + 1:], "--debug" in argv[:lead])
        except SystemExit as exc:
            return _exit_code(exc)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return _exit_code(exc)
    args.no_progress = getattr(args, "no_progress", False)
    return _call(args.func, args, debug)


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]
