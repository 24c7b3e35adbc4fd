"""Admins put inference components to sleep and wake them, from the command line and
``chat_core``; non-admins are refused; listed idle components are put to sleep by
whichever replica notices first.

Real boto3 against the local endpoint server on 127.0.0.1, which answers the control
plane's calls on inference components itself (moto's SageMaker server has none:
DescribeInferenceComponent, UpdateInferenceComponentRuntimeConfig), describes the
serverless endpoint ``burst`` itself too (run without --control-plane, it forwards
nothing to moto), and answers the runtime calls with SageMaker's refusal for a
component with no copies.  Usage records are in the test's SQLite store (conftest)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import streamlit as st
from botocore.exceptions import ClientError
from shared import AUTH, serving, until
from streamlit.testing.v1 import AppTest

from chat_core.__main__ import main
from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.errors import ChatError
from chat_core.local.endpoint import EndpointFault, LocalEndpoint
from chat_core.local.server import EndpointServer
from chat_core.models import calls, wake
from chat_core.models.catalog import InvalidComponentList, custom_model
from chat_core.models.discovery import Serverless, list_endpoints
from chat_core.models.scaling import (
    NotAllowedToScale,
    ScaleFailed,
    scale,
    sleep_idle,
    sleep_settings,
)
from chat_core.retrieval.embeddings import embedder
from chat_core.usage.records import Usage

ADMIN = "https://issuer#admin"
COMPONENTS = {"team": {"llama": "tgi", "gemma": "tgi", "waking": "tgi", "busy": "tgi"}}
WAKE_S = 0.5


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalEndpoint, EndpointServer]]:
    """The team's endpoint, every component with one copy but ``waking``, asleep (an
    instance per copy), and a serverless endpoint, ``burst``."""
    monkeypatch.setenv("LOCAL_MODEL", "scripted:0")
    served = LocalEndpoint(
        {}, components=COMPONENTS, asleep={("team", "waking")}, wake_s=WAKE_S, serverless={"burst": "tgi"}
    )
    with serving(served) as running:
        for name in ("SAGEMAKER", "SAGEMAKER_RUNTIME"):
            monkeypatch.setenv(f"AWS_ENDPOINT_URL_{name}", running.url)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("CHAT_ADMINS", ADMIN)
        yield served, running


def ask(component: str) -> str:
    """A call to the component as the app makes it; SageMaker's error code if refused."""
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    try:
        runtime.invoke_endpoint(
            EndpointName="team", InferenceComponentName=component, Body=b'{"inputs": "Hello?"}'
        )
    except ClientError as error:
        return error.response["Error"]["Message"]
    return "answered"


def test_an_admin_puts_a_component_to_sleep_and_wakes_it_from_the_command_line(
    server: tuple[LocalEndpoint, EndpointServer], capsys: pytest.CaptureFixture[str]
) -> None:
    served, _ = server
    assert main(["endpoints", "--scale", "team/llama=0", "--owner", ADMIN]) == 0
    assert capsys.readouterr().out == "Asked for 0 copies of team/llama.\n"
    assert served.copies("team", "llama").current == 0
    assert ask("llama").startswith("Inference Component has no capacity")

    assert main(["endpoints", "--scale", "team/llama=1", "--owner", ADMIN]) == 0
    assert capsys.readouterr().out == "Asked for 1 copy of team/llama.\n"
    assert served.copies("team", "llama").desired == 1
    assert until(lambda: ask("llama") == "answered")


def test_a_non_admin_is_refused_and_nothing_changes(
    server: tuple[LocalEndpoint, EndpointServer], capsys: pytest.CaptureFixture[str]
) -> None:
    served, _ = server
    before = served.copies("team", "llama")
    assert main(["endpoints", "--scale", "team/llama=0"]) == 2  # the local user, not in CHAT_ADMINS
    refused = "error: Only admins (CHAT_ADMINS) may put a model to sleep or wake it.\n"
    assert capsys.readouterr().err == refused
    with pytest.raises(NotAllowedToScale):
        scale("https://issuer#ana", "team", "llama", 0)
    assert served.copies("team", "llama") == before and ask("llama") == "answered"


def test_a_wrong_name_or_count_is_one_line(
    server: tuple[LocalEndpoint, EndpointServer], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["endpoints", "--scale", "team/nope=0", "--owner", ADMIN]) == 2
    assert capsys.readouterr().err.startswith("error: team hosts no inference component nope")
    assert main(["endpoints", "--scale", "other/llama=0", "--owner", ADMIN]) == 2
    assert capsys.readouterr().err.startswith("error: other hosts no inference component llama")
    assert main(["endpoints", "--scale", "team/llama=-1", "--owner", ADMIN]) == 2
    assert "is not ENDPOINT/COMPONENT=COPIES" in capsys.readouterr().err
    assert server[0].copies("team", "llama").current == 1


@pytest.mark.parametrize("given", ["team/llama=²", "team/llama=1.5", "team/=1", "team/llama", "team/l=1=2"])
def test_a_count_or_name_not_written_as_asked_is_one_line_and_exit_2(
    server: tuple[LocalEndpoint, EndpointServer], capsys: pytest.CaptureFixture[str], given: str
) -> None:
    assert main(["endpoints", "--scale", given, "--owner", ADMIN]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not ENDPOINT/COMPONENT=COPIES" in err and err.count("\n") == 1


@pytest.mark.parametrize("listed", ["team/llama=1", "team", "team/llama/x", "/llama"])
def test_a_sleep_setting_naming_no_component_is_refused(monkeypatch: pytest.MonkeyPatch, listed: str) -> None:
    monkeypatch.setenv("SLEEP_COMPONENTS", listed)
    with pytest.raises(InvalidComponentList):
        sleep_settings()


def test_the_endpoint_server_reads_endpoint_slash_component_as_the_app_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Its --asleep option takes the same names, refused the same way."""
    with pytest.raises(SystemExit) as exited:
        main(["endpoint", "--component", "team/llama=tgi", "--asleep", "team/llama=1"])
    assert exited.value.code == 2 and "ENDPOINT/COMPONENT" in capsys.readouterr().err


def test_a_scale_that_fails_says_the_copies_in_words(
    server: tuple[LocalEndpoint, EndpointServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SageMaker out of reach (a port nothing listens on)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ScaleFailed) as failed:
        scale(ADMIN, "team", "llama", 1)
    assert str(failed.value).startswith("llama's copies were not set to 1: ")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_replicas_at_once_put_only_the_idle_component_to_sleep(
    server: tuple[LocalEndpoint, EndpointServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``llama`` is idle; ``gemma`` answered a moment ago (a usage record of another
    replica, in the shared store); ``waking`` was asked for a copy; ``busy`` was sent a
    call (its mark; tests below make it with another process).  Both replicas check at once."""
    served, _ = server
    idle_s = 1.5
    monkeypatch.setenv("SLEEP_COMPONENTS", "team/llama, team/gemma, team/waking, team/busy")
    monkeypatch.setenv("SLEEP_AFTER_MINUTES", str(idle_s / 60))
    started = time.time()
    assert until(lambda: time.time() > started + idle_s)  # every component unchanged that long
    served.wake_s = 600
    served.set_copies("team", "waking", 1)  # a wake under way: desired 1, current 0
    store = open_store(os.environ["CHAT_STORE"])
    store.record_usage(Usage("ana", "", 0, "m", "team", 10, 20, 1.0, component="gemma"))
    store.mark_call("team", "busy", time.time())  # a call another replica sent, under way
    barrier, slept = threading.Barrier(2), []

    def replica() -> None:
        barrier.wait()
        slept.extend(sleep_idle(open_store(os.environ["CHAT_STORE"])))

    replicas = [threading.Thread(target=replica) for _ in range(2)]
    for thread in replicas:
        thread.start()
    for thread in replicas:
        thread.join()
    assert set(slept) == {"team/llama"}
    copies = {name: served.copies("team", name) for name in COMPONENTS["team"]}
    assert {name: (c.desired, c.current) for name, c in copies.items()} == {
        "llama": (0, 0),
        "gemma": (1, 1),
        "waking": (1, 0),
        "busy": (1, 1),
    }
    assert ask("gemma") == "answered" and ask("llama").startswith("Inference Component has no capacity")


def test_the_app_process_starts_its_auto_sleep_once(
    server: tuple[LocalEndpoint, EndpointServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's first page run starts the check; a component idle past the minutes
    (nothing recorded, unchanged since the server started) is put to sleep."""
    served, _ = server
    monkeypatch.setenv("SLEEP_COMPONENTS", "team/gemma")
    monkeypatch.setenv("SLEEP_AFTER_MINUTES", "0.01")
    st.cache_resource.clear()
    at = AppTest.from_file("../app.py", default_timeout=30).run()
    assert not at.exception
    assert until(lambda: served.copies("team", "gemma").current == 0)
    assert served.copies("team", "llama").current == 1  # not listed
    checks = [thread for thread in threading.enumerate() if thread.name == "auto-sleep" and thread.is_alive()]
    at.run()
    assert [thread for thread in threading.enumerate() if thread.name == "auto-sleep"] == checks


def test_the_login_page_starts_the_auto_sleep_too(
    server: tuple[LocalEndpoint, EndpointServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica whose first page request is a visitor not logged in still checks."""
    served, _ = server
    monkeypatch.setenv("SLEEP_COMPONENTS", "team/gemma")
    monkeypatch.setenv("SLEEP_AFTER_MINUTES", "0.01")
    st.cache_resource.clear()
    earlier = set(threading.enumerate())  # an earlier test's check may still run: not this one's
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.secrets["auth"] = AUTH
    at.run()
    assert not at.exception and at.button  # the login button
    assert [thread.name for thread in set(threading.enumerate()) - earlier].count("auto-sleep") == 1
    assert until(lambda: served.copies("team", "gemma").current == 0)


def test_the_listing_shows_copies_instances_and_serverless_endpoints_as_they_are_now(
    server: tuple[LocalEndpoint, EndpointServer], capsys: pytest.CaptureFixture[str]
) -> None:
    served, _ = server
    served.wake_s = 600
    served.set_copies("team", "waking", 1)
    endpoints = {endpoint.name: endpoint for endpoint in list_endpoints().endpoints}
    team, burst = endpoints["team"], endpoints["burst"]
    assert team.instance_count == 3
    assert {c.name: (c.copies, c.desired) for c in team.components} == {
        "llama": (1, 1),
        "gemma": (1, 1),
        "waking": (0, 1),
        "busy": (1, 1),
    }
    assert (burst.instance_type, burst.instance_count, burst.serverless) == (
        "serverless",
        0,
        Serverless(4096, 5),
    )
    assert burst.instances == "serverless 4,096 MB, 5 at once"

    assert main(["endpoints"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if line.startswith("burst ")).endswith(
        "serverless 4,096 MB, 5 at once"
    )
    assert next(line for line in lines if line.strip().startswith("waking ")).endswith(
        "0 copies (asked for 1)"
    )

    for name in ("llama", "gemma", "busy", "waking"):  # every component asleep: no instance left
        served.set_copies("team", name, 0)
    assert next(e for e in list_endpoints().endpoints if e.name == "team").instance_count == 0
    assert main(["endpoints", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert listed["burst"]["serverless"] == {"memory_mb": 4096, "max_concurrency": 5}
    assert listed["team"]["instance_count"] == 0


REPLICA = """
from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.models.catalog import InvalidComponentList, custom_model

spec = custom_model("team", "tgi", 4096, None, "slow")
with ChatSession(open_store(), "bob").ask("Hello?", Settings(spec, spec.defaults)) as reply:
    print("".join(reply))
"""


def test_an_answer_another_replica_streams_keeps_its_component_awake(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replica B is another process (``REPLICA``, asking as the chat page asks) sharing
    the store; the model holds its answer after the first word until released.  While
    B's answer is under way (nothing recorded yet), replica A (this process) does not
    put the component to sleep; once it has ended and the longest a call may take
    passed, it does."""
    started, release = threading.Event(), threading.Event()

    def held(prompt: str, *, max_new_tokens: int, **sampling: object) -> Iterator[str]:
        started.set()
        yield " Hello"
        release.wait(60)
        yield " there."

    with serving(LocalEndpoint({}, components={"team": {"slow": "tgi"}}, complete=held)) as running:
        for name in ("SAGEMAKER", "SAGEMAKER_RUNTIME"):
            monkeypatch.setenv(f"AWS_ENDPOINT_URL_{name}", running.url)
        for name, value in (
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "t"),
            ("AWS_SECRET_ACCESS_KEY", "t"),
        ):
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SLEEP_COMPONENTS", "team/slow")
        monkeypatch.setenv("SLEEP_AFTER_MINUTES", "0.002")  # 0.12 s
        store = open_store(os.environ["CHAT_STORE"])
        since = time.time()
        assert until(lambda: time.time() > since + 0.2)  # idle since the server started
        replica = subprocess.Popen(
            [sys.executable, "-c", REPLICA], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1]
        )
        try:
            assert started.wait(60)
            assert sleep_idle(store) == []
        finally:
            release.set()
            out, _ = replica.communicate(timeout=60)
        assert out.strip() == "Hello there."
        monkeypatch.setenv("ANSWER_MAX_SECONDS", "0.05")  # the longest a call may take, now passed
        monkeypatch.setenv("WAKE_MAX_SECONDS", "0.05")
        monkeypatch.setattr(calls, "MARK_EVERY_S", 0.05)  # and the interval between marks
        assert until(lambda: sleep_idle(store) == ["team/slow"])


def test_a_query_embedding_marks_its_endpoint_as_called(monkeypatch: pytest.MonkeyPatch) -> None:
    """An embedding endpoint answers no question and writes no usage record: its calls
    are marked all the same, so it is not idle to the auto-sleep or the admins' page."""
    with serving(LocalEndpoint({"e5": "jumpstart"})) as running:
        for name, value in {
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": running.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "t",
            "AWS_SECRET_ACCESS_KEY": "t",
            "EMBEDDING_ENDPOINT": "e5",
            "EMBEDDING_FORMAT": "jumpstart",
        }.items():
            monkeypatch.setenv(name, value)
        before = time.time()
        assert len(embedder().query("Where is the invoice?"))
    called = open_store(os.environ["CHAT_STORE"]).last_calls()
    assert list(called) == [("e5", None)] and called["e5", None] >= before


def test_calls_within_a_minute_write_one_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mark is written before the call, in its path to the first token: a process
    writes a model's mark once a minute (``calls.MARK_EVERY_S``), not once a call; the
    auto-sleep's margin counts that minute
    (``test_a_call_sent_after_the_mark_keeps_its_component_awake``)."""
    store = open_store(os.environ["CHAT_STORE"])
    calls.note_call("team", "llama")
    first = store.last_calls()["team", "llama"]
    until(lambda: time.time() > first)  # a second call later than the first
    calls.note_call("team", "llama")
    assert store.last_calls()["team", "llama"] == first
    monkeypatch.setattr(calls, "MARK_EVERY_S", 0.0)
    calls.note_call("team", "llama")
    assert store.last_calls()["team", "llama"] > first


def test_a_component_put_to_sleep_wakes_for_the_next_question(
    server: tuple[LocalEndpoint, EndpointServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed in SLEEP_COMPONENTS only, with no autoscaling of the team's: the app put it
    to sleep, so the app asks for its copy when the next question comes."""
    served, _ = server
    monkeypatch.setenv("SLEEP_COMPONENTS", "team/llama")
    monkeypatch.setenv("SLEEP_AFTER_MINUTES", "0.002")  # 0.12 s
    monkeypatch.setenv("WAKE_MAX_SECONDS", "10")
    store = open_store(os.environ["CHAT_STORE"])
    assert until(lambda: sleep_idle(store) == ["team/llama"])
    spec = custom_model("team", "tgi", 2048, "us-east-1", "llama")
    answer = "".join(ChatSession().ask("Anyone there?", Settings(spec, spec.defaults)))
    assert "Anyone there?" in answer
    assert served.copies("team", "llama").current == 1


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("WAKE_COMPONENTS", "team/llama;team/gemma"),
        ("WAKE_COMPONENTS", "team/llama=1"),
        ("SLEEP_COMPONENTS", "team/llama/x"),
    ],
)
def test_a_bad_wake_components_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, listed: str
) -> None:
    """What the wake reads to ask for a copy: a list it cannot read is said, with its
    setting, not read as naming no component."""
    monkeypatch.setenv(name, listed)
    with pytest.raises(ChatError) as raised:
        wake.may_ask_for_copy(wake.Target("us-east-1", "team", "llama"))
    assert raised.value.text("en").startswith(f"{name} is not valid ({listed!r})"), raised.value.text("en")
    assert name in raised.value.text("ko")


def test_the_wake_asks_for_copies_of_the_components_either_setting_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAKE_COMPONENTS", " team/llama , other/chat")
    monkeypatch.setenv("SLEEP_COMPONENTS", "team/gemma")
    asks = {
        name: wake.may_ask_for_copy(wake.Target(None, *name.split("/")))
        for name in ("team/llama", "team/gemma", "team/busy", "other/llama")
    }
    assert asks == {"team/llama": True, "team/gemma": True, "team/busy": False, "other/llama": False}


def test_a_call_sent_after_the_mark_keeps_its_component_awake(
    server: tuple[LocalEndpoint, EndpointServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process marks a model's calls once a ``calls.MARK_EVERY_S``: a call sent after
    the last mark is not marked, and may be under way for the longest a call may take
    (here 0.1 s) after it was sent, so the auto-sleep's margin counts that interval too."""
    monkeypatch.setenv("SLEEP_COMPONENTS", "team/llama")
    monkeypatch.setenv("SLEEP_AFTER_MINUTES", "0.002")  # 0.12 s
    monkeypatch.setenv("ANSWER_MAX_SECONDS", "0.05")
    monkeypatch.setenv("WAKE_MAX_SECONDS", "0.05")
    store = open_store(os.environ["CHAT_STORE"])
    calls.note_call("team", "llama")
    marked = store.last_calls()["team", "llama"]
    assert until(lambda: time.time() > marked + 0.2)
    calls.note_call("team", "llama")  # sent now, within the minute: not marked
    assert store.last_calls()["team", "llama"] == marked
    assert sleep_idle(store) == []
    monkeypatch.setattr(calls, "MARK_EVERY_S", 0.05)
    assert until(lambda: sleep_idle(store) == ["team/llama"])


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "Cannot update in-progress inference component llama.",
            "SageMaker is still changing it (ValidationException); try again once that is done",
        ),
        (
            "The instance type of endpoint team cannot hold 2 copies of llama.",
            "SageMaker refused it: The instance type of endpoint team cannot hold 2 copies of llama",
        ),
    ],
)
def test_a_scale_sagemaker_refuses_says_why_in_its_words(
    server: tuple[LocalEndpoint, EndpointServer], message: str, reason: str
) -> None:
    """The local server's control plane made to refuse the update as SageMaker does
    (ValidationException; the first message as SageMaker words a change under way):
    only that one is a change to wait for; another is SageMaker's own message."""

    def refused(parameters: object, region: str) -> None:
        raise EndpointFault("ValidationException", message, 400)

    _, running = server
    running.control._operations["UpdateInferenceComponentRuntimeConfig"] = refused
    with pytest.raises(ScaleFailed) as failed:
        scale(ADMIN, "team", "llama", 2)
    assert str(failed.value) == f"llama's copies were not set to 2: {reason}."
