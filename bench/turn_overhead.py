"""Figure 1: time per turn spent outside the model, as history grows.

Ours is the app's own path for a question, through ``ChatSession`` on SQLite as
the chat page takes it, all conversations in one store as in the app's process:
``ask`` saves the question, fits the newest turns into the window and builds the
model's call; the model, here a stand-in that answers at once (``Canned``), gets
its prompt formatted from that call as the chain formats it; reading the reply to
its end counts the answer's tokens and saves it with its usage.  The endpoint's
client, made for each answer so that closing it ends the stream, is the model's
side (a boto3 client costs about 13 ms; the bundled model's, 12 us), and so is
left out with the model.

The original app's way: load the whole ConversationBufferMemory as text, re-split
it with RecursiveCharacterTextSplitter, keep the last two chunks, build the
prompt, save the turn to the memory (it kept nothing on disk).  Neither side
includes the model's own work (LangChain's invoke, the endpoint, generation).

Where our time per turn goes is profiled (``breakdown``) and given in the notes.
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from langchain_classic.memory import ConversationBufferMemory
from langchain_core._api import LangChainDeprecationWarning
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_text_splitters import RecursiveCharacterTextSplitter

from bench.results import Figure, Spread, figure, interleaved, timed
from chat_core.conversations import session as session_module
from chat_core.conversations.exchange import Settings
from chat_core.conversations.reply import TokenRelay
from chat_core.conversations.session import ChatSession
from chat_core.conversations.sqlite import SQLiteStore
from chat_core.models.catalog import ModelSpec, load_catalog
from chat_core.models.prompts import Turn

SYSTEM = "You are a helpful assistant."
OWNER = "bench"


def turn(i: int) -> Turn:
    return Turn(
        f"Question {i}: what should I see in district {i} of Seoul?",
        f"Answer {i}: walk along the river, then take line {i % 9 + 1} of the subway.",
    )


class Canned:
    """The model's stand-in where the app's ``TokenRelay`` runs it: formats the prompt
    from the call as the chain does, then hands over ``answer`` whole, in the
    reading thread (no model thread, no endpoint)."""

    answer = ""  # the next answer; set before each question
    prompt = ""  # the last prompt formatted

    def __init__(self, model: Runnable, inputs: dict[str, str], client: Any, *, owner: str) -> None:
        self._model, self._inputs = model, inputs
        self._left: list[object] = [Canned.answer, TokenRelay.DONE]
        self.thread = None
        self.waking = None  # never asleep

    def asleep_s(self) -> float:
        return 0.0

    def next(self, timeout: float) -> object:
        if len(self._left) == 2:
            Canned.prompt = self._model.first.format(**self._inputs)  # type: ignore[attr-defined]
        return self._left.pop(0)

    def wake(self) -> None: ...

    def cancel(self) -> None: ...


def no_endpoint(spec: ModelSpec, params: object) -> Runnable:
    """The LLM the call is built with: passes its prompt on (``Canned`` never invokes it)."""
    llm = RunnableLambda(lambda prompt: prompt)
    llm.client = None  # type: ignore[attr-defined]
    return llm


@contextmanager
def canned_model() -> Iterator[None]:
    with (
        mock.patch.object(session_module, "TokenRelay", Canned),
        mock.patch.object(session_module, "endpoint_llm", no_endpoint),
    ):
        yield


class Ours:
    def __init__(self, spec: ModelSpec, history: int, store: SQLiteStore) -> None:
        self.settings = Settings(spec, spec.defaults, system=SYSTEM)
        self.session = ChatSession(store, OWNER)
        for i in range(history):
            self._turn(turn(i))

    def _turn(self, t: Turn) -> None:
        Canned.answer = t.answer
        for _ in self.session.ask(t.question, self.settings):
            pass

    def __call__(self) -> float:
        new = turn(len(self.session.exchanges))
        return timed(lambda: self._turn(new))


# Where a turn's time goes, by the code it is spent in (cProfile's own time of each function).
PARTS = (
    ("SQLite saves", ("sqlite3", "conversations/sqlite.py", "conversations/store.py", "usage/")),
    ("llama.cpp tokenizer", ("llama_cpp",)),
    ("fitting the window", ("models/budget.py", "session.py __reversed__", "session.py __getitem__")),
    ("prompt text (neutralize, render, template)", ("prompts.py", "string.py")),
)


def breakdown(ours: Ours, turns: int) -> str:
    """Shares of a turn's time by ``PARTS`` (the rest: session, reply, records), over
    ``turns`` more turns.  cProfile charges each Python call more than C's, so these
    are shares, not times."""
    profile = cProfile.Profile()
    profile.runcall(lambda: [ours() for _ in range(turns)])
    spent = dict.fromkeys([name for name, _ in PARTS] + ["the rest"], 0.0)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (file, _, function), (_, _, own, _, _) in stats.items():
        where = f"{file} {function}"
        part = next((name for name, marks in PARTS if any(mark in where for mark in marks)), "the rest")
        spent[part] += own
    total = sum(spent.values())
    return ", ".join(f"{name} {share / total:.0%}" for name, share in spent.items())


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
    notes: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as folder, canned_model():
        # One store for every conversation, as the app's process has, and every history
        # saved before any turn is timed: a replica's store is past its first few
        # hundred turns, and its WAL file is reused rather than grown with each commit.
        store = SQLiteStore(Path(folder) / "chat.db")
        runs = {
            n: {"local": Ours(local, n, store), "remote": Ours(remote, n, store), "original": Original(n)}
            for n in sizes
        }
        for n in sizes:
            spreads[n] = interleaved(runs[n], repeats, warm=2)
            if n in sizes[:2]:
                notes[n] = "where ours goes: " + breakdown(runs[n]["local"], repeats)
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
            note=notes.get(n, "") if key == "local" else "",
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
