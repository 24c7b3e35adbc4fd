"""Run every benchmark: ``make bench`` (or ``QUICK=1`` for a smoke check under
two minutes, written to ``bench/quick/`` and not to the README).

    .venv/bin/python -m bench.run [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import time

import chat_core.local.runtime  # noqa: F401  (registers the bundled models: some benchmarks time budget alone)
from bench.results import BENCH, README, markdown, write

BENCHMARKS = (
    "turn_overhead",
    "streaming",
    "pdf_extraction",
    "map_reduce",
    "memory",
    "tokens_per_char",
    "page_overhead",
    "hostile_pdfs",
    "retrieval",
    "citations",
    "indexing_load",
    "repetition_guard",
    "fair_turns",
    "load",
    "wake",
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller inputs")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=BENCHMARKS)
    args = parser.parse_args()
    complete = not args.quick and tuple(args.only) == BENCHMARKS
    out = BENCH / "quick" if not complete else BENCH
    out.mkdir(exist_ok=True)
    figures = []
    for name in args.only:
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        new = module.run(args.quick, out)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
        print(markdown(new), flush=True)
        figures += new
    write(figures, out, readme=README if complete else None)
    missed = [f.name for f in figures if f.met is False]
    print(f"{len(figures)} figures in {out}; targets missed: {', '.join(missed) or 'none'}")


if __name__ == "__main__":
    main()
