"""``KEY=VALUE`` option lists, as the command line (``--opt lam=7``) and method specs
(``diffpir@default:lam=7``) write them, parsed to typed values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from restora.errors import RestoraError


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
