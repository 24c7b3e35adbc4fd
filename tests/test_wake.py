"""A question to a model that sleeps: an inference component scaled to zero copies waits
for its wake, says so, and is answered; the wait is bounded, a stop ends it, and the
runtime calls it makes are few.  Real boto3 against our endpoint server on 127.0.0.1,
which answers both the runtime (the exact "no capacity" ValidationError) and the control
plane calls waking uses (DescribeInferenceComponent, UpdateInferenceComponentRuntimeConfig):
moto's SageMaker has no inference components.  The scripted model answers."""

import contextlib
import itertools
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from shared import point_at, serving, until

from chat_core.conversations.exchange import Settings, State
from chat_core.conversations.reply import STOPPED_EARLY
from chat_core.conversations.session import ChatSession
from chat_core.documents.summaries import Summary, summarize
from chat_core.errors import ComponentNotFound, WakeTimedOut
from chat_core.i18n import Text
from chat_core.local.endpoint import NO_CAPACITY, EndpointFault, LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer
from chat_core.models import wake
from chat_core.models.catalog import GenerationParams, ModelSpec, custom_model, load_catalog
from chat_core.models.endpoint import runtime_client

PARAMS = GenerationParams(max_new_tokens=64, temperature=0.0, top_p=1.0)
LOCAL = load_catalog()["local-smollm2"]
WAKE_S = 2.0  # the server's time from a copy asked for to the copy serving
LAG_S = 1.0  # how long the runtime refuses a copy the control plane already counts


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
    def describes(self) -> int:
        """DescribeInferenceComponent calls the control plane answered."""
        return self.server.control.calls["DescribeInferenceComponent"]

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
    assert waits(seen) and " · usually about " in waits(seen)[0], seen  # no longer "a few minutes"


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


def test_a_stop_ends_a_wait_at_once(unscaled: Sleeper, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped while the model wakes (it never will here), the answer ends at once: the
    thread waiting for the wake is gone when ``stop`` returns (the next retry is an
    hour away), and so is the thread reading the component's copies (their only reader):
    no more reads."""
    monkeypatch.setattr(wake, "RETRY_FIRST_S", 3600.0)
    chat = ChatSession()
    reply = chat.ask("Anyone there?", unscaled.settings())
    threading.Thread(target=lambda: "".join(reply), daemon=True).start()
    assert until(lambda: (status := reply.waited()) is not None and "waking up" in status.text("en"))
    reply.request_stop()
    assert until(lambda: chat.exchanges[-1].reason == STOPPED_EARLY)
    assert not reply._relay._thread.is_alive()
    assert until(lambda: not any(t.name == f"wake {unscaled.name}/chat" for t in threading.enumerate()))


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


def test_a_component_nothing_wakes_is_read_seldom(unscaled: Sleeper, monkeypatch: pytest.MonkeyPatch) -> None:
    """No copy asked for, and the app may not ask: nothing can serve until the team's
    own scaling asks, so its copies are read every few seconds, not four times a second."""
    monkeypatch.setenv("WAKE_MAX_SECONDS", "10")
    with pytest.raises(WakeTimedOut):
        "".join(ChatSession().ask("Anyone there?", unscaled.settings()))
    assert unscaled.describes <= 4, unscaled.describes


@pytest.mark.parametrize("usual_s", [None, 30.0, 300.0], ids=["usual-unknown", "usual-30s", "usual-5min"])
def test_a_long_wake_is_read_every_half_second_once_past_its_usual_time(usual_s: float | None) -> None:
    """Past the first 15 s after a copy is asked for, the copies are read at least every
    0.5 s once the usual time to wake has gone by, or when it is unknown (the first wake
    after each deploy): a copy is noticed within 0.5 s however long it took.  Before a
    known usual time, less often, but never more than 5 s apart, nor less than 0.5."""
    seconds = [quarter / 4 for quarter in range(60, 4 * 1200)]  # 15 s to 20 min after
    past = [at for at in seconds if usual_s is None or at >= usual_s]
    assert max(wake.describe_interval(at, usual_s) for at in past) == wake.DESCRIBE_NEAR_S
    before = [wake.describe_interval(at, usual_s) for at in seconds if usual_s and at < usual_s]
    assert all(wake.DESCRIBE_NEAR_S <= interval <= wake.DESCRIBE_IDLE_S for interval in before)


def test_a_refusal_just_after_the_copy_serves_does_not_delay_the_answer(
    unscaled: Sleeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control plane says a copy serves, the runtime refuses once more (a lag; this
    server has none, so the test adds one refusal): the question is asked again at the
    backoff's first step (0.5 s), not at the step it grew to while the model woke
    (minutes here)."""
    monkeypatch.setattr(wake, "RETRY_GROWTH", 1000.0)
    monkeypatch.setattr(wake, "RETRY_MAX_S", 3600.0)
    check, lagged = unscaled.endpoint._check_capacity, []

    def lagging(endpoint: str, component: str) -> None:
        if unscaled.endpoint.copies(endpoint, component).current and not lagged:
            lagged.append(True)
            raise EndpointFault("ValidationError", NO_CAPACITY, 400)
        check(endpoint, component)

    monkeypatch.setattr(unscaled.endpoint, "_check_capacity", lagging)
    chat = ChatSession()
    reply = chat.ask("Which river?", unscaled.settings())
    answer: list[str] = []
    threading.Thread(target=lambda: answer.append("".join(reply)), daemon=True).start()
    assert until(lambda: (status := reply.waited()) is not None and "waking up" in status.text("en"))
    unscaled.endpoint.set_copies(unscaled.name, "chat", 1)
    assert until(lambda: bool(answer), 5 + WAKE_S), (lagged, chat.exchanges[-1].state)
    assert lagged and "Which river?" in answer[0]


def test_a_runtime_that_lags_the_control_plane_is_not_hammered(
    unscaled: Sleeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control plane says a copy serves, the runtime refuses for 1 s more (a lag;
    this server has none, so the test adds it): after each such refusal the copies are
    read again only once the backoff's step is over, so the calls and reads stay few
    (a call and a read at once after every refusal would be hundreds), and the answer comes."""
    monkeypatch.setenv("WAKE_COMPONENTS", f"{unscaled.name}/chat")
    check, served_at = unscaled.endpoint._check_capacity, []

    def lagging(endpoint: str, component: str) -> None:
        check(endpoint, component)  # refused while no copy serves
        if not served_at:
            served_at.append(time.monotonic())
        if time.monotonic() < served_at[0] + LAG_S:
            raise EndpointFault("ValidationError", NO_CAPACITY, 400)

    monkeypatch.setattr(unscaled.endpoint, "_check_capacity", lagging)
    assert "Which river?" in "".join(ChatSession().ask("Which river?", unscaled.settings()))
    assert unscaled.calls <= 10 and unscaled.describes <= 15, (unscaled.calls, unscaled.describes)


def test_a_component_deleted_while_it_wakes_ends_the_wait_with_sagemakers_error(
    unscaled: Sleeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted mid-wait, the component is not waited for any longer: the question is
    sent again at once and gets SageMaker's own answer, not at the next retry (a minute)."""
    monkeypatch.setattr(wake, "RETRY_FIRST_S", 60.0)
    chat = ChatSession()
    reply = chat.ask("Anyone there?", unscaled.settings())
    failed: list[BaseException] = []

    def read() -> None:
        try:
            "".join(reply)
        except Exception as error:
            failed.append(error)

    threading.Thread(target=read, daemon=True).start()
    assert until(lambda: (status := reply.waited()) is not None and "waking up" in status.text("en"))
    del unscaled.endpoint.components[unscaled.name]["chat"]
    assert until(lambda: bool(failed), 5), chat.exchanges[-1].state
    assert isinstance(failed[0], ComponentNotFound), failed


def test_a_summary_says_the_model_wakes(unscaled: Sleeper, monkeypatch: pytest.MonkeyPatch) -> None:
    """A summary's progress says the model is waking up, in the chat's words, until
    it has woken; the time left it gives then leaves the wake out: with one part done
    (the test holds the others), less than the wake alone would add."""
    answered, release = itertools.count(), threading.Event()
    complete = unscaled.endpoint._component_models[unscaled.name, "chat"]

    def one_part_first(*args: object, **kwargs: object) -> Iterator[str]:
        """The first part answered; the others streamed up to their first token."""
        tokens = complete(*args, **kwargs)
        if next(answered):
            yield next(tokens)
            release.wait(30)
        yield from tokens

    monkeypatch.setitem(unscaled.endpoint._component_models, (unscaled.name, "chat"), one_part_first)
    text = "The Han river flows through Seoul. " * 400  # several parts, asked at once
    summary = Summary.start(text, unscaled.spec, PARAMS, detail="short", owner="u")
    try:
        assert until(lambda: "is waking up" in summary.message.text("en")), summary.message
        assert until(lambda: summary._client is not None and summary._client.waking_s() >= 1)
        unscaled.endpoint.set_copies(unscaled.name, "chat", 1)
        assert until(lambda: summary.finished >= 1 or summary.error is not None, 30), summary.error
        message, asleep_s = summary.message.text("en"), summary._client.asleep_s()
    finally:
        release.set()
    shown = re.fullmatch(rf"Part 2 of {summary.parts}, about (?:(\d+) min )?(\d+) s left", message)
    assert shown and summary.parts >= 2, message
    left_s = 60 * int(shown[1] or 0) + int(shown[2])
    assert left_s < asleep_s * (summary.parts - 1), (message, asleep_s)  # what the wake would add
    summary.wait(60)
    assert summary.complete, summary.error


def test_every_elapsed_time_shown_is_within_the_wait_named_after(
    autoscaled: Sleeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second user who asks while the model already wakes sees their own wait, which
    ends at WAKE_MAX_SECONDS: no elapsed time shown is longer than the wait named."""
    monkeypatch.setenv("WAKE_MAX_SECONDS", "3")
    autoscaled.endpoint.wake_s = 3600.0
    first = ChatSession().ask("First?", autoscaled.settings())

    def read() -> None:
        with contextlib.suppress(WakeTimedOut):
            "".join(first)

    threading.Thread(target=read, daemon=True).start()
    assert until(lambda: (status := first.waited()) is not None and "· 2 s" in status.text("en"))
    seen: list[Text] = []
    with pytest.raises(WakeTimedOut) as raised:
        "".join(ChatSession().ask("Second?", autoscaled.settings(), waiting=seen.append))
    assert " after 3 s " in raised.value.text("en")
    shown = [int(line.split(" · ")[1].removesuffix(" s")) for line in waits(seen)]
    assert shown and max(shown) <= 3, shown
    first.request_stop()


def test_a_serverless_cold_start_that_lasts_too_long_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAKE_MAX_SECONDS", "1")
    name = f"serverless-{uuid.uuid4().hex[:8]}"
    endpoint = LocalEndpoint(
        {}, serverless={name: "tgi"}, cold_start_s=3600.0, complete=ScriptedModel(token_ms=1).complete
    )
    with serving(endpoint) as server:
        point_at(monkeypatch, server)
        spec = custom_model(name, "tgi", 2048, "us-east-1")
        with pytest.raises(WakeTimedOut) as raised:
            "".join(ChatSession().ask("Which river?", Settings(spec, PARAMS)))
    assert "cold start" in raised.value.text("en") and "copy" not in raised.value.text("en"), raised.value
    assert "콜드 스타트" in raised.value.text("ko")


def test_a_bad_wake_setting_is_named(unscaled: Sleeper, monkeypatch: pytest.MonkeyPatch) -> None:
    from chat_core.errors import InvalidWakeSetting

    monkeypatch.setenv("WAKE_MAX_SECONDS", "10m")
    chat = ChatSession()
    with pytest.raises(InvalidWakeSetting) as raised:
        "".join(chat.ask("Anyone there?", unscaled.settings()))
    assert "WAKE_MAX_SECONDS" in raised.value.text("en") and "10m" in raised.value.text("en")
    assert "WAKE_MAX_SECONDS" in raised.value.text("ko")


def test_cold_start_refusals_leave_other_answers_their_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many refusals of a serverless endpoint in a cold start do not use up the retries
    the runtime client shares with every answer: another endpoint's passing fault (a 503
    once, which this server adds for the test) is still retried and answered."""
    name = f"serverless-{uuid.uuid4().hex[:8]}"
    endpoint = LocalEndpoint(
        {"steady": "tgi"},
        serverless={name: "tgi"},
        cold_start_s=3600.0,
        complete=ScriptedModel(token_ms=1).complete,
    )
    invoke, faulted = endpoint.invoke, []

    def once_unavailable(called: str, *args: object, **kwargs: object) -> object:
        if called == "steady" and not faulted:
            faulted.append(True)
            raise EndpointFault("ServiceUnavailable", "Try again.", 503)
        return invoke(called, *args, **kwargs)

    monkeypatch.setattr(endpoint, "invoke", once_unavailable)
    with serving(endpoint) as server:
        point_at(monkeypatch, server)
        cold = custom_model(name, "tgi", 2048, "us-east-1")
        client = runtime_client(cold)
        body = b'{"inputs": "Hi", "parameters": {"max_new_tokens": 4}}'
        for _ in range(110):
            with pytest.raises(client.exceptions.ClientError):
                client.invoke_endpoint_with_response_stream(EndpointName=name, Body=body)
        answered = client.invoke_endpoint(EndpointName="steady", Body=body)
    assert faulted and answered["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_bad_wake_components_setting_is_the_question_s_error(
    unscaled: Sleeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WAKE_COMPONENTS entry that is no component ("a;b": commas part them) is told to
    the user who asks a sleeping component, at once, naming the setting: not left to the
    log while the question waits out its bound."""
    from chat_core.models.catalog import InvalidComponentList

    monkeypatch.setenv("WAKE_COMPONENTS", "team/llama;team/gemma")
    monkeypatch.setenv("WAKE_MAX_SECONDS", "5")  # the bound it would otherwise wait out
    chat = ChatSession()
    with pytest.raises(InvalidComponentList) as raised:
        "".join(chat.ask("Anyone there?", unscaled.settings()))
    assert "WAKE_COMPONENTS" in raised.value.text("en") and "WAKE_COMPONENTS" in raised.value.text("ko")
