"""``python -m restora ...`` (and ``torchrun -m restora ...``): the command line."""

from restora.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
