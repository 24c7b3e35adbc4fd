"""Figure 1: time per turn spent outside the model, as history grows.

Ours, as the app does it for each question: save the question (SQLite), fit the
newest turns into the window, build the prompt, save the answer; the session
keeps its turns, so nothing is loaded back.  The original app's way: load the
whole ConversationBufferMemory as text, re-split it with
RecursiveCharacterTextSplitter, keep the last two chunks, build the prompt,
save the turn to the memory (it kept nothing on disk).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from langchain_classic.memory import ConversationBufferMemory
from langchain_core._api import LangChainDeprecationWarning
from langchain_text_splitters import RecursiveCharacterTextSplitter

from bench.results import Figure, Spread, figure, interleaved, timed
from chat_core.conversations.sqlite import SQLiteStore
from chat_core.models.budget import fit_history, history_budget
from chat_core.models.catalog import ModelSpec, load_catalog
from chat_core.models.prompts import Turn

SYSTEM = "You are a helpful assistant."
OWNER = "bench"


def turn(i: int) -> Turn:
    return Turn(
        f"Question {i}: what should I see in district {i} of Seoul?",
        f"Answer {i}: walk along the river, then take line {i % 9 + 1} of the subway.",
    )


class Ours:
    def __init__(self, spec: ModelSpec, history: int, folder: Path) -> None:
        self.spec = spec
        self.store = SQLiteStore(folder / f"{spec.id}-{history}.db")
        self.conversation = self.store.create(OWNER, "bench", spec.id, "PromptTemplate").id
        self.turns: list[Turn] = []
        for i in range(history):
            self._save(turn(i))

    def _save(self, t: Turn) -> str:
        key = self.store.add_question(OWNER, self.conversation, t.question)
        self.store.add_answer(OWNER, self.conversation, key, t.answer, {"tokens": 20})
        self.turns.append(t)
        return key

    def __call__(self) -> float:
        new = turn(len(self.turns))

        def one_turn() -> None:
            key = self.store.add_question(OWNER, self.conversation, new.question)
            budget = history_budget(self.spec, self.spec.defaults, SYSTEM, new.question)
            kept = fit_history(self.spec, self.turns, budget)
            assert self.spec.prompt_format.render(SYSTEM, kept, new.question)
            self.store.add_answer(OWNER, self.conversation, key, new.answer, {"tokens": 20})
            self.turns.append(new)

        return timed(one_turn)


class Original:
    def __init__(self, history: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LangChainDeprecationWarning)
            self.memory = ConversationBufferMemory()
        for i in range(history):
            t = turn(i)
            self.memory.save_context({"input": t.question}, {"response": t.answer})
        self.splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0)
        self.count = history

    def __call__(self) -> float:
        new = turn(self.count)
        self.count += 1

        def one_turn() -> None:
            history = self.memory.load_memory_variables({})["history"]
            recent = "".join(self.splitter.split_text(history)[-2:])
            assert f"{SYSTEM}\n\n{recent}\nUser: {new.question}\nAssistant:"
            self.memory.save_context({"input": new.question}, {"response": new.answer})

        return timed(one_turn)


def run(quick: bool, out: Path) -> list[Figure]:
    sizes = [10, 100, 1000, 10000]
    repeats = 5 if quick else 31
    models = load_catalog()
    local, remote = models["local-smollm2"], models["llama2-7b-chat"]
    spreads: dict[int, dict[str, Spread]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            runs = {
                "local": Ours(local, n, Path(folder)),
                "remote": Ours(remote, n, Path(folder)),
                "original": Original(n),
            }
            spreads[n] = interleaved(runs, repeats, warm=2)
    ms = {n: {k: Spread(tuple(s * 1e3 for s in v.samples)) for k, v in s.items()} for n, s in spreads.items()}

    def against_original(n: int, key: str, label: str, target: str) -> Figure:
        ours, original = ms[n][key], ms[n]["original"]
        return figure(
            f"Turn overhead, {n:,} turns of history, {label}",
            ours,
            "ms",
            "original (re-split buffer)",
            original,
            ratio=original.median / ours.median,
            ratio_means="original / ours",
            target=target,
        )

    figures = [
        against_original(n, "local", "bundled model", ">= 60" if n == sizes[-1] else "") for n in sizes
    ]
    figures.append(against_original(sizes[-1], "remote", "Llama 2 endpoint", ">= 60"))
    for key, label in (("local", "bundled model"), ("remote", "Llama 2 endpoint")):
        big, small = ms[sizes[-1]][key], ms[sizes[0]][key]
        figures.append(
            figure(
                f"Turn overhead growth, {sizes[-1]:,} vs {sizes[0]} turns, {label}",
                big,
                "ms",
                f"ours at {sizes[0]} turns",
                small,
                ratio=big.median / small.median,
                ratio_means=f"{sizes[-1]:,} turns / {sizes[0]} turns",
                target="<= 2",
                note="flat once the window is full" if key == "local" else "",
            )
        )
    _plot(ms, out / "turn_overhead.png")
    return figures


def _plot(ms: dict[int, dict[str, Spread]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    sizes = sorted(ms)
    fig, ax = pyplot.subplots(figsize=(6, 3.6), dpi=100)
    for key, label in (
        ("local", "ours, bundled model"),
        ("remote", "ours, Llama 2 endpoint"),
        ("original", "original (re-split buffer)"),
    ):
        ax.plot(sizes, [ms[n][key].median for n in sizes], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("turns of history")
    ax.set_ylabel("ms per turn outside the model (median)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    pyplot.close(fig)
