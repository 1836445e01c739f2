"""Grid overrides (DVC 3's Hydra syntax): ``-S 'lr=0.1,0.2' -S 'epochs=range(1,3)'`` is four experiments.

A value is a sweep when it is a comma list outside quotes and brackets (``0.1,0.2``; ``[1,2]`` and
``'a,b'`` stay one value), ``range(start, stop[, step])`` (stop excluded, as in Python and Hydra) or
``choice(a, b, ...)``. The grid is the product of the sweeps in the order given, the first varying
slowest; every other override is applied to each experiment as it is.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from jupyter_exp.errors import ExperimentError

_FUNCTION = re.compile(r"^(?P<name>range|choice)\((?P<args>.*)\)$", re.DOTALL)
_CLOSING = {"(": ")", "[": "]", "{": "}"}


def split_top_level(text: str) -> list[str]:
    """``text`` split at commas outside quotes and brackets (``a,[b,c],'d,e'`` -> three items)."""
    items, current, stack, quote = [], [], [], ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _CLOSING:
            stack.append(_CLOSING[char])
        elif stack and char == stack[-1]:
            stack.pop()
        elif char == "," and not stack:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    items.append("".join(current).strip())
    return items


def _number(text: str, override: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ExperimentError(
            f"Invalid `--set-param` '{override}': range() takes numbers, not '{text}'"
        ) from None


def _range(args: list[str], override: str) -> list[str]:
    if not 1 <= len(args) <= 3 or "" in args:
        raise ExperimentError(f"Invalid `--set-param` '{override}': use range(start, stop[, step])")
    numbers = [_number(a, override) for a in args]
    start, stop, step = (0, numbers[0], 1) if len(numbers) == 1 else (*numbers, 1)[:3]
    if step == 0:
        raise ExperimentError(f"Invalid `--set-param` '{override}': range() step must not be 0")
    if all(isinstance(n, int) for n in (start, stop, step)):
        return [str(v) for v in range(int(start), int(stop), int(step))]
    values = []
    for i in itertools.count():
        value = start + i * step
        if (value >= stop) if step > 0 else (value <= stop):
            return values
        values.append(repr(float(f"{value:.12g}")))  # 0.1 + 2 * 0.1 is 0.30000000000000004
    raise AssertionError("unreachable")


def sweep_values(override: str) -> list[str] | None:
    """The values a ``[file:]key=value`` override sweeps over (as override value texts), or None."""
    head, sep, value = override.partition("=")
    if not sep or head.lstrip().startswith("~"):
        return None
    match = _FUNCTION.match(value.strip())
    if match:
        args = split_top_level(match["args"])
        values = _range(args, override) if match["name"] == "range" else args
    else:
        values = split_top_level(value)
        if len(values) == 1:
            return None
    if not values or "" in values:
        raise ExperimentError(f"Invalid `--set-param` '{override}': the sweep has an empty value")
    return values


def is_grid(params: Iterable[str] | Mapping[str, Any] | None) -> bool:
    """True when some ``-S`` override sweeps (a mapping of values never does)."""
    if not params or isinstance(params, Mapping):
        return False
    return any(sweep_values(p) is not None for p in params)


def expand(params: Iterable[str] | None) -> list[list[str]]:
    """Every combination of the sweeps, each a full list of plain ``-S`` overrides."""
    axes: list[list[str]] = []
    for override in params or ():
        values = sweep_values(override)
        key = override.partition("=")[0]
        axes.append([override] if values is None else [f"{key}={v}" for v in values])
    return [list(combo) for combo in itertools.product(*axes)]


def grid_names(name: str | None, count: int) -> list[str | None]:
    """``-n NAME`` for a grid of ``count``: NAME-1 .. NAME-count (one experiment keeps NAME)."""
    if name is None or count == 1:
        return [name] * count
    return [f"{name}-{i}" for i in range(1, count + 1)]
