"""Figures as records: measured against a baseline in the same run, medians over
repeats, with the target each must meet; written as JSON, a Markdown table and
the README's Performance section.

Absolute times depend on the machine and its load; a ratio to a baseline timed
alongside, in the same process and the same minutes, mostly does not.
"""

from __future__ import annotations

import gc
import json
import operator
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
README = BENCH.parent / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
_COMPARE = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Spread:
    """Repeated measurements of one thing."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


@dataclass(frozen=True)
class Figure:
    name: str
    value: float  # ours: the median
    unit: str
    baseline: str  # what ours is compared with
    baseline_value: float  # its median, in the same unit
    ratio: float  # as the target reads it (see ``ratio_means``)
    ratio_means: str
    target: str  # e.g. ">= 50" (on the ratio, or on the value when it has a unit), "" if none
    met: bool | None
    repeats: int
    min: float
    median: float
    max: float
    note: str = ""


def figure(
    name: str,
    ours: Spread,
    unit: str,
    baseline: str,
    base: Spread,
    *,
    ratio: float,
    ratio_means: str,
    target: str = "",
    target_on_value: bool = False,
    note: str = "",
) -> Figure:
    """``target`` (e.g. ">= 50") applies to the ratio, or with ``target_on_value``
    to ours in its unit."""
    met = None
    if target:
        op, bound = target.split()[:2]
        met = _COMPARE[op](round(ours.median if target_on_value else ratio, 2), float(bound))
    return Figure(
        name,
        ours.median,
        unit,
        baseline,
        base.median,
        ratio,
        ratio_means,
        target,
        met,
        len(ours.samples),
        ours.min,
        ours.median,
        ours.max,
        note,
    )


def interleaved(runs: dict[str, Callable[[], float]], repeats: int, *, warm: int = 0) -> dict[str, Spread]:
    """Each run's measurements, taken in turns (A B C A B C ...) so that a change
    in the machine's load falls on all of them alike.  ``warm`` unmeasured calls
    precede each measured one, so that no run is timed with the caches the one
    before it left cold."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            for _ in range(warm):
                run()
            samples[name].append(run())
    return {name: Spread(tuple(values)) for name, values in samples.items()}


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` takes, with the garbage collector off, as ``timeit`` does:
    otherwise one run pays for collecting what another one left behind."""
    gc.disable()
    try:
        start = time.perf_counter()
        action()
        return time.perf_counter() - start
    finally:
        gc.enable()


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def markdown(figures: Sequence[Figure]) -> str:
    lines = [
        "| figure | ours (median) | baseline (median) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        lines.append(
            f"| {f.name} | {_number(f.value)} {f.unit} (min {_number(f.min)}, max {_number(f.max)}, "
            f"n={f.repeats}) | {f.baseline}: {_number(f.baseline_value)} {f.unit} | "
            f"{f.ratio:.2f} ({f.ratio_means}) | {f.target} | {met} |"
        )
    notes = [f"- {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def write(figures: Sequence[Figure], out: Path, *, readme: Path | None) -> None:
    """``results.json`` and ``results.md`` in ``out``; the table also replaces the
    section between the bench markers of ``readme``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps([asdict(f) for f in figures], indent=2) + "\n")
    table = markdown(figures)
    (out / "results.md").write_text(table)
    if readme:
        head, begin, rest = readme.read_text().partition(BEGIN)
        _, end, tail = rest.partition(END)
        if not (begin and end):
            raise ValueError(f"{readme} has no {BEGIN} ... {END} section for the table")
        readme.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")
