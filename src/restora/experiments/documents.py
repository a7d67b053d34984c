"""Documents as hand-written Markdown with generated tables: a block between ``<!-- table NAME -->`` and
``<!-- end NAME -->`` is replaced by what the generator for NAME returns; the prose around it is never
touched, so a document is edited like any other file and regenerated without losing the edits."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from restora.errors import RestoraError

BLOCK = re.compile(r"<!-- table (?P<name>[\w:./-]+) -->\n(?P<body>.*?)<!-- end (?P=name) -->", re.S)


def block_names(text: str) -> list[str]:
    """The generated blocks of a document, in order."""
    return [m["name"] for m in BLOCK.finditer(text)]


def fill(text: str, tables: Mapping[str, Callable[[], str]]) -> str:
    """``text`` with every block's body replaced by its table; a block without a generator, or a
    generator without a block, is an error (a renamed block would otherwise go stale silently)."""
    names = block_names(text)
    unknown = sorted(set(names) - set(tables))
    unused = sorted(set(tables) - set(names))
    if unknown or unused:
        raise RestoraError(f"document blocks without a generator: {unknown}; generators without a block: "
                           f"{unused}")

    def body(m: re.Match) -> str:
        table = tables[m["name"]]().strip("\n")
        return f"<!-- table {m['name']} -->\n{table}\n<!-- end {m['name']} -->"

    return BLOCK.sub(body, text)
