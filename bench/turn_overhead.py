"""Time spent per turn outside the model: fitting history and building the prompt.

Ours (chat_core.window) against the original app's way: render the whole
ConversationBufferMemory to text and re-split it with
RecursiveCharacterTextSplitter on every turn, keeping the last two chunks.
Medians over repeats; the figures that matter are the ratios.

    .venv/bin/python bench/turn_overhead.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_classic.memory import ConversationBufferMemory
from langchain_core._api import LangChainDeprecationWarning
from langchain_text_splitters import RecursiveCharacterTextSplitter

from chat_core.catalog import load_catalog
from chat_core.prompts import Turn
from chat_core.window import fit_history

SYSTEM = "You are a helpful assistant."
QUESTION = "Tell me how to travel the city."


def turn(i: int) -> Turn:
    return Turn(
        f"Question {i}: what should I see in district {i} of Seoul?",
        f"Answer {i}: walk along the river, then take line {i % 9 + 1} of the subway.",
    )


def ours(spec, turns: list[Turn], repeats: int) -> list[float]:
    fmt = spec.prompt_format
    times = []
    for r in range(repeats):
        turns.append(turn(len(turns) + r))  # a new turn each time, as in a live chat
        start = time.perf_counter()
        kept = fit_history(spec, spec.defaults, SYSTEM, turns, QUESTION)
        fmt.render(SYSTEM, kept, QUESTION)
        times.append(time.perf_counter() - start)
    return times


def original(turns: list[Turn], repeats: int) -> list[float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangChainDeprecationWarning)
        memory = ConversationBufferMemory()
    for t in turns:
        memory.chat_memory.add_user_message(t.question)
        memory.chat_memory.add_ai_message(t.answer)
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        history = memory.load_memory_variables({})["history"]
        recent = "".join(splitter.split_text(history)[-2:])
        prompt = f"{SYSTEM}\n\n{recent}\nUser: {QUESTION}\nAssistant:"
        assert prompt
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = [10, 100, 1000] if quick else [10, 100, 1000, 10000]
    repeats = 5 if quick else 15
    models = load_catalog()
    print("| history turns | ours, local (ms) | ours, remote (ms) | original (ms) | original / ours |")
    print("|---|---|---|---|---|")
    flat = {}
    for n in sizes:
        local = statistics.median(ours(models["local-smollm2"], [turn(i) for i in range(n)], repeats))
        remote = statistics.median(ours(models["llama2-7b-chat"], [turn(i) for i in range(n)], repeats))
        orig = statistics.median(original([turn(i) for i in range(n)], repeats))
        flat[n] = local
        print(f"| {n} | {local * 1e3:.3f} | {remote * 1e3:.3f} | {orig * 1e3:.3f} | {orig / local:.1f}x |")
    print(f"\nours at {sizes[-1]} turns / ours at 10 turns: {flat[sizes[-1]] / flat[10]:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
