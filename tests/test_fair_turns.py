"""Turns on the bundled model: users are served in turn, so one user's many calls
(a summary's parts, compared columns, several tabs) never hold another user back by
more than the call under way, and each waiting call knows exactly how many go first.
The queue is exercised with real threads; the scripted model where text matters."""

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from shared import until

from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.documents.summaries import Summary
from chat_core.i18n import Text
from chat_core.local import model as local_model
from chat_core.local import runtime
from chat_core.local.scripted import ScriptedModel
from chat_core.models.catalog import GenerationParams, load_catalog

LOCAL = load_catalog()["local-smollm2"]
SMALL = replace(LOCAL, context_window=1024)  # so a short text takes several parts
SETTINGS = Settings(LOCAL, GenerationParams(max_new_tokens=400, temperature=0.0, top_p=1.0))


class Queue:
    """Calls of named users queued one after another on a queue of their own, each in
    a thread that records its name when its turn comes and ends its turn at once."""

    def __init__(self, turns: local_model.Turns, release: Callable[[], None]) -> None:
        self.turns = turns
        self.release = release  # ends the call that holds the model
        self.served: list[str] = []
        self.threads: dict[str, threading.Thread] = {}

    def call(self, name: str) -> None:
        """Queue the call ``name`` ("ana-2": ana's second) and wait until it waits."""
        user = name.split("-")[0]

        def take_turn() -> None:
            with self.turns.turn():
                self.served.append(name)

        thread = threading.Thread(target=local_model.on_behalf_of(user, take_turn), daemon=True)
        thread.start()
        self.threads[name] = thread
        assert until(lambda: self.ahead(name) > 0), f"{name} never queued"

    def ahead(self, name: str) -> int:
        return self.turns.ahead(self.threads[name].ident)

    def join(self) -> None:
        for thread in self.threads.values():
            thread.join(10)


@pytest.fixture
def queue() -> Iterator[Queue]:
    """A queue whose model is busy with dan's call until the test releases it (``queue.release``)."""
    turns = local_model.Turns()
    taken, release = threading.Event(), threading.Event()

    def dans_call() -> None:
        with turns.turn():
            taken.set()
            release.wait(60)

    threading.Thread(target=local_model.on_behalf_of("dan", dans_call), daemon=True).start()
    assert taken.wait(10)
    queued = Queue(turns, release.set)
    yield queued
    release.set()
    queued.join()


def test_a_user_with_many_calls_waiting_does_not_hold_another_user_back(queue: Queue) -> None:
    """ana queues three calls, then ben one: ben goes after ana's first, not after all
    of hers, and his wait says so (dan's call under way and ana's first)."""
    for name in ("ana-1", "ana-2", "ana-3", "ben-1"):
        queue.call(name)
    assert queue.ahead("ben-1") == 2  # dan's call, and ana's first
    queue.release()
    queue.join()
    assert queue.served == ["ana-1", "ben-1", "ana-2", "ana-3"]


def test_users_are_served_in_turn_and_each_wait_is_exact(queue: Queue) -> None:
    """Three users with three, two and one calls waiting behind dan's: one call of each
    in turn, the user who came first first; and each call's "ahead" before dan's call
    ends is the number of calls that then had their turn before it, plus dan's."""
    for name in ("ana-1", "ana-2", "ana-3", "ben-1", "ben-2", "cleo-1"):
        queue.call(name)
    ahead = {name: queue.ahead(name) for name in queue.threads}
    queue.release()
    queue.join()
    assert queue.served == ["ana-1", "ben-1", "cleo-1", "ana-2", "ben-2", "ana-3"]
    assert ahead == {name: queue.served.index(name) + 1 for name in queue.served}


def test_a_user_just_served_goes_after_the_users_waiting(queue: Queue) -> None:
    """dan, whose call holds the model, queues another, then ana one: when his call
    ends, ana's turn comes before his second one, though it came later."""
    queue.call("dan-2")
    queue.call("ana-1")
    assert (queue.ahead("ana-1"), queue.ahead("dan-2")) == (1, 2)
    queue.release()
    queue.join()
    assert queue.served == ["ana-1", "dan-2"]


def test_calls_of_no_known_user_are_served_first_come_first_served(queue: Queue) -> None:
    """Calls no user is known for (the endpoint server's HTTP clients) keep their
    order of arrival, each its own place."""
    turns, served = queue.turns, []

    def anonymous(n: int) -> None:
        with turns.turn():
            served.append(n)

    threads = []
    for n in range(4):
        threads.append(threading.Thread(target=anonymous, args=(n,), daemon=True))
        threads[-1].start()
        assert until(lambda t=threads[-1], n=n: turns.ahead(t.ident) == n + 1)
    queue.release()
    for thread in threads:
        thread.join(10)
    assert served == [0, 1, 2, 3]


def test_another_users_question_waits_for_one_part_of_a_summary_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ana summarizes a document of many parts on the bundled model; ben asks while its
    second part is under way (held until his wait has said so): his question is the
    model's next call, before the summary's third part."""
    model = ScriptedModel(token_ms=0)
    second_part, go_on = threading.Event(), threading.Event()

    def complete(prompt: str, **options: object) -> Iterator[str]:
        if len(model.prompts) == 1 and "Seoul" not in prompt:
            second_part.set()
            go_on.wait(30)
        yield from model.complete(prompt, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime.ENDPOINT, "complete", local_model.in_turn(complete))
    text = "\n".join(f"Line {n} of a long report about rivers and the cities they cross." for n in range(300))
    brief = GenerationParams(max_new_tokens=20, temperature=0.0, top_p=1.0)
    summary = Summary.start(text, SMALL, brief, detail="short", owner="ana")
    try:
        assert second_part.wait(30)
        seen: list[str] = []

        def waiting(status: Text | None) -> None:
            seen.append(status.text("en") if status else "")
            if seen[-1].startswith("1 question ahead of yours"):
                go_on.set()  # the second part ends

        reply = ChatSession(owner="ben").ask("Which river flows through Seoul?", SETTINGS, waiting=waiting)
        assert "".join(reply).startswith("You asked: Which river flows through Seoul?")
        assert go_on.is_set(), seen
        asked = next(n for n, prompt in enumerate(model.prompts) if "Seoul" in prompt)
        assert asked == 2, f"ben's question was the model's call {asked + 1}, after the summary's {asked}"
        assert summary.parts > 3
    finally:
        go_on.set()
        summary.stop()
        summary.wait(10)
