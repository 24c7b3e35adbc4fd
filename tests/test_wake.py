"""A question to a model that sleeps: an inference component scaled to zero copies waits
for its wake, says so, and is answered; the wait is bounded, a stop ends it, and the
runtime calls it makes are few.  Real boto3 against our endpoint server on 127.0.0.1,
which answers both the runtime (the exact "no capacity" ValidationError) and the control
plane calls waking uses (DescribeInferenceComponent, UpdateInferenceComponentRuntimeConfig):
moto's SageMaker has no inference components.  The scripted model answers."""

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from shared import point_at, serving, until

from chat_core.conversations.exchange import Settings, State
from chat_core.conversations.reply import STOPPED_EARLY
from chat_core.conversations.session import ChatSession
from chat_core.documents.summaries import summarize
from chat_core.errors import WakeTimedOut
from chat_core.i18n import Text
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer
from chat_core.models.catalog import GenerationParams, ModelSpec, custom_model, load_catalog

PARAMS = GenerationParams(max_new_tokens=64, temperature=0.0, top_p=1.0)
LOCAL = load_catalog()["local-smollm2"]
WAKE_S = 2.0  # the server's time from a copy asked for to the copy serving


@dataclass
class Sleeper:
    """A component with no copies, behind the endpoint server this test's boto3 calls."""

    endpoint: LocalEndpoint
    server: EndpointServer
    spec: ModelSpec
    name: str  # its endpoint's; the component is "chat"

    @property
    def calls(self) -> int:
        """Runtime calls made to it, refused ones too."""
        return self.endpoint.calls[self.name, "chat"]

    @property
    def desired(self) -> int:
        return self.endpoint.copies(self.name, "chat").desired

    def settings(self) -> Settings:
        return Settings(self.spec, PARAMS)


def sleeper(monkeypatch: pytest.MonkeyPatch, *, autoscale: bool) -> Iterator[Sleeper]:
    # A name of its own: the process remembers how long each model took to wake.
    name = f"team-{uuid.uuid4().hex[:8]}"
    endpoint = LocalEndpoint(
        {},
        components={name: {"chat": "tgi"}},
        asleep=[(name, "chat")],
        wake_s=WAKE_S,
        autoscale=autoscale,
        complete=ScriptedModel(token_ms=2).complete,
    )
    with serving(endpoint) as server:
        point_at(monkeypatch, server)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
        yield Sleeper(endpoint, server, custom_model(name, "tgi", 2048, "us-east-1", "chat"), name)


@pytest.fixture
def autoscaled(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sleeper]:
    """The team's autoscaling asks for a copy at the first call refused."""
    yield from sleeper(monkeypatch, autoscale=True)


@pytest.fixture
def unscaled(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sleeper]:
    """Nothing wakes it but a call to UpdateInferenceComponentRuntimeConfig."""
    yield from sleeper(monkeypatch, autoscale=False)


def waits(seen: list[Text]) -> list[str]:
    return [status.text("en") for status in seen if status]


def test_a_question_to_a_sleeping_component_says_it_wakes_and_is_answered(autoscaled: Sleeper) -> None:
    """The first question waits for the wake, says so with the seconds going up, and
    its answer comes; the runtime calls while it waited stay few (a blind retry every
    0.1 s would make 20 in the 2 s)."""
    seen: list[Text] = []
    chat = ChatSession()
    reply = chat.ask("Which river flows through Seoul?", autoscaled.settings(), waiting=seen.append)
    assert "Which river flows through Seoul?" in "".join(reply)
    assert chat.exchanges[-1].state is State.ANSWERED
    lines = waits(seen)
    label = autoscaled.spec.label
    assert lines and all(
        line.startswith(f"{label} is waking up: it had no copy running · ") for line in lines
    ), lines
    assert lines[0].endswith(" · usually a few minutes"), lines[0]
    assert lines[-1] != lines[0]  # the elapsed time went up
    assert "깨어나는 중" in seen[0].text("ko")
    assert autoscaled.calls <= 6, autoscaled.calls


def test_the_usual_time_is_that_of_the_last_wakes(autoscaled: Sleeper) -> None:
    """Once the model has woken here, the next wake says how long that took."""
    "".join(ChatSession().ask("First?", autoscaled.settings()))
    autoscaled.endpoint.set_copies(autoscaled.name, "chat", 0)  # asleep again
    seen: list[Text] = []
    "".join(ChatSession().ask("Second?", autoscaled.settings(), waiting=seen.append))
    assert waits(seen) and waits(seen)[0].endswith((" · usually about 2 s", " · usually about 3 s")), seen


def test_many_questions_to_one_sleeping_component_share_one_wake(autoscaled: Sleeper) -> None:
    """Six users ask at once: all are answered, and the retries while they waited are
    shared (each its first call, a few retries in all, each its answer), not six times."""
    answers: list[str] = []

    def ask(n: int) -> None:
        answers.append("".join(ChatSession(owner=f"user{n}").ask(f"Question {n}?", autoscaled.settings())))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 6 and all(any(f"Question {n}?" in a for a in answers) for n in range(6)), answers
    assert autoscaled.calls <= 6 + 5 + 6, autoscaled.calls


def test_the_app_asks_for_a_copy_only_where_the_operator_allows_it(
    unscaled: Sleeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not listed in WAKE_COMPONENTS, the component is left to the team's autoscaling
    (here none: the wait ends at its bound, and no copy was asked for); listed, the
    app asks for one copy and the answer comes."""
    monkeypatch.setenv("WAKE_MAX_SECONDS", "3")
    monkeypatch.setenv("WAKE_COMPONENTS", f"other/chat, {unscaled.name}/other")
    chat = ChatSession()
    with pytest.raises(WakeTimedOut):
        "".join(chat.ask("Anyone there?", unscaled.settings()))
    assert unscaled.desired == 0
    monkeypatch.setenv("WAKE_COMPONENTS", f"other/chat, {unscaled.name}/chat")
    assert "Anyone there?" in "".join(chat.ask("Anyone there?", unscaled.settings()))
    assert unscaled.desired == 1


def test_a_wait_ends_at_its_bound_with_a_message_to_resend(
    unscaled: Sleeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAKE_MAX_SECONDS", "1")
    chat = ChatSession()
    with pytest.raises(WakeTimedOut) as raised:
        "".join(chat.ask("Anyone there?", unscaled.settings()))
    name = f"{unscaled.name}/chat"
    assert raised.value.text("en").startswith(f"'{name}' is still not ready after 1 s (WAKE_MAX_SECONDS)")
    assert "다시 보내" in raised.value.text("ko")
    assert not chat.exchanges[-1].answered  # the question stays, to resend


def test_a_stop_ends_a_wait_at_once(unscaled: Sleeper) -> None:
    """Stopped while the model wakes (it never will here), the answer ends at once: the
    thread waiting for the wake is gone when ``stop`` returns (it would hold on to its
    wait for WAKE_MAX_SECONDS, 10 minutes)."""
    chat = ChatSession()
    reply = chat.ask("Anyone there?", unscaled.settings())
    threading.Thread(target=lambda: "".join(reply), daemon=True).start()
    assert until(lambda: (status := reply.waited()) is not None and "waking up" in status.text("en"))
    reply.request_stop()
    assert until(lambda: chat.exchanges[-1].reason == STOPPED_EARLY)
    assert not reply._relay._thread.is_alive()


def test_the_answer_deadline_does_not_count_the_wake(
    autoscaled: Sleeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ANSWER_MAX_SECONDS (here 1 s) bounds the answer once the model is awake; the
    2 s wake before it is bounded by WAKE_MAX_SECONDS."""
    monkeypatch.setenv("ANSWER_MAX_SECONDS", "1")
    chat = ChatSession()
    answer = "".join(chat.ask("Which river flows through Seoul?", autoscaled.settings()))
    assert "Which river flows through Seoul?" in answer
    assert chat.exchanges[-1].state is State.ANSWERED, chat.exchanges[-1].reason


def test_a_compared_column_waits_for_the_wake_the_same_way(autoscaled: Sleeper) -> None:
    """Compared with the bundled model, the sleeping component's column says it wakes
    while the other answers, then answers too."""
    comparison = ChatSession().compare("Which river?", [autoscaled.settings(), Settings(LOCAL, PARAMS)])
    seen: list[str] = []
    for index, text in comparison:
        reply = comparison.candidates[index].reply
        if index == 0 and text == "" and reply and (status := reply.waited()):
            seen.append(status.text("en"))
    assert all(c.exchange.state is State.ANSWERED for c in comparison.candidates)
    assert comparison.candidates[0].exchange.answer.startswith("You asked:")
    assert any("is waking up" in line for line in seen), seen


def test_a_summary_of_a_sleeping_component_waits_for_it(autoscaled: Sleeper) -> None:
    """A document summarized by a sleeping model: its first part waits for the wake."""
    done = summarize("The Han river flows through Seoul. " * 20, autoscaled.spec, PARAMS)
    assert done.text.startswith("You asked:"), done.text
    assert autoscaled.calls >= 2  # refused, then answered


def test_a_serverless_endpoint_in_a_cold_start_says_so_and_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A serverless endpoint's first call starts its cold start (2 s here; SageMaker
    answers ModelNotReadyException meanwhile): the wait explains the cold start, and
    the answer comes once it is over."""
    name = f"serverless-{uuid.uuid4().hex[:8]}"
    endpoint = LocalEndpoint(
        {}, serverless={name: "tgi"}, cold_start_s=WAKE_S, complete=ScriptedModel(token_ms=2).complete
    )
    with serving(endpoint) as server:
        point_at(monkeypatch, server)
        seen: list[Text] = []
        spec = custom_model(name, "tgi", 2048, "us-east-1")
        answer = "".join(ChatSession().ask("Which river?", Settings(spec, PARAMS), waiting=seen.append))
    assert "Which river?" in answer
    lines = waits(seen)
    cold = f"{spec.label} is starting: a serverless endpoint sets up its resources on the first call"
    assert lines and all(line.startswith(cold) for line in lines), lines
    assert lines[0].endswith(" · usually seconds to a minute"), lines[0]
    assert "콜드 스타트" in seen[0].text("ko")
    assert endpoint.calls[name, None] <= 8, endpoint.calls
