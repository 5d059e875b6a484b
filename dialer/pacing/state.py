"""What a campaign's pacer has learned, as plain JSON, and the checks that take it back.

A pacer learns for hours: answer rates and times, handle times, the abandon-rate loop's
integral, whether the answer rate held overnight. The live runner lives only while its
campaign runs, so without this a pause, a restart or a deploy would send the campaign
back to dialing progressively until it had relearned (`Pacer.state`, `Pacer.restored`;
the runner keeps it in PostgreSQL). Each part saves itself as a JSON object of numbers,
lists and nulls, and restores itself checking every value: ValueError names the first
bad one. `Pacer.restored` restores into a new pacer, so a damaged or outdated state is
refused whole and nothing half-restored is ever used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

State = dict[str, Any]


def floats(state: State, key: str, size: int) -> npt.NDArray[np.float64]:
    """`state[key]` as an array of `size` finite non-negative numbers."""
    values = state.get(key)
    if not isinstance(values, list) or len(values) != size:
        raise ValueError(f"{key}: expected a list of {size} numbers")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
        raise ValueError(f"{key}: expected numbers")
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{key}: expected finite non-negative numbers")
    return array


def number(state: State, key: str, low: float = 0.0, high: float = math.inf) -> float:
    """`state[key]` as a finite number in [low, high]."""
    value = state.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key}: expected a number")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{key}: expected a finite number in [{low:g}, {high:g}]")
    return float(value)


def optional_number(state: State, key: str) -> float | None:
    """`state[key]` as a finite number, or None when null."""
    return None if state.get(key) is None else number(state, key, -math.inf)


def count(state: State, key: str) -> int:
    """`state[key]` as a non-negative integer."""
    value = state.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key}: expected a count")
    return value


def flag(state: State, key: str, nullable: bool = False) -> bool | None:
    """`state[key]` as true or false (or null, when `nullable`)."""
    value = state.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false" + (" or null" if nullable else ""))
    return value


def part(state: State, key: str) -> State:
    """`state[key]`, a nested part's state object."""
    value = state.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{key}: expected an object")
    return value


def triple(state: State, key: str, names: tuple[str, str, str]) -> State | None:
    """`state[key]`, a list of three values, as an object of `names` (None when null)."""
    value = state.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != len(names):
        raise ValueError(f"{key}: expected [{', '.join(names)}]")
    return dict(zip(names, value, strict=True))
