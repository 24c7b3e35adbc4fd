"""Waking a model that sleeps (chat_core/models/wake.py): what the app adds to the wake.

The endpoint server in this process serves an inference component with no copies;
the first call refused asks for one (``autoscale``, as a team's scaling policy would)
and the copy serves ``wake_s`` later.  The app's time from the question to the first
token, less ``wake_s``, is what the app adds beyond the wake: noticing the copy
(DescribeInferenceComponent every ``DESCRIBE_S``), calling again, the model's first
token.  The baseline is the first token of a component that is awake, timed in turns
with it.  Target: the issue's 1 s with the project's 2x margin, 0.5 s.

Then six questions wait for one longer wake at once: the runtime calls they make
(refused ones; each question's answering call is not counted) against six blind
loops retrying every second.  Real boto3 over HTTP on 127.0.0.1; the scripted model.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bench.results import Figure, Spread, figure
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer
from chat_core.models import wake
from chat_core.models.catalog import GenerationParams, custom_model
from tests.shared import environment

ENDPOINT = "bench-llm"
PARAMS = GenerationParams(max_new_tokens=32, temperature=0.0, top_p=1.0)
QUESTIONS_AT_ONCE = 6


def first_token_s(settings: Settings, owner: str = "bench") -> float:
    """Seconds from asking to the answer's first text; the answer is then stopped."""
    started = time.perf_counter()
    with ChatSession(owner=owner).ask("Which river flows through Seoul?", settings) as reply:
        next(iter(reply))
        return time.perf_counter() - started


def run(quick: bool, out: Path) -> list[Figure]:
    repeats, wake_s, long_wake_s = (2, 2.0, 4.0) if quick else (5, 5.0, 30.0)
    endpoint = LocalEndpoint(
        {},
        components={ENDPOINT: {"asleep": "tgi", "awake": "tgi", "shared": "tgi"}},
        asleep=[(ENDPOINT, "asleep"), (ENDPOINT, "shared")],
        wake_s=wake_s,
        autoscale=True,
        complete=ScriptedModel(token_ms=20).complete,
    )
    server = EndpointServer(endpoint, port=0, quiet=True).start()
    values = {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server.url,
        "AWS_ENDPOINT_URL_SAGEMAKER": server.url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }

    def settings(component: str) -> Settings:
        return Settings(custom_model(ENDPOINT, "tgi", 2048, "us-east-1", component), PARAMS)

    asleep, awake = settings("asleep"), settings("awake")
    try:
        with environment(values):
            first_token_s(awake)  # the client made, the connection open
            beyond, alone, calls = [], [], []
            for _ in range(repeats):
                endpoint.set_copies(ENDPOINT, "asleep", 0)  # put to sleep: at once
                before = endpoint.calls[ENDPOINT, "asleep"]
                beyond.append(first_token_s(asleep) - wake_s)
                calls.append(endpoint.calls[ENDPOINT, "asleep"] - before - 1)
                alone.append(first_token_s(awake))
            endpoint.wake_s = long_wake_s
            before = endpoint.calls[ENDPOINT, "shared"]
            threads = [
                threading.Thread(target=first_token_s, args=(settings("shared"), f"user{n}"))
                for n in range(QUESTIONS_AT_ONCE)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(long_wake_s + 60)
            shared = endpoint.calls[ENDPOINT, "shared"] - before - QUESTIONS_AT_ONCE
    finally:
        server.shutdown()
        server.server_close()
    blind = QUESTIONS_AT_ONCE * long_wake_s  # each question retrying every second
    return [
        figure(
            f"Wake, question to first token beyond the wake time (component at 0 copies, {wake_s:g} s wake)",
            Spread(tuple(beyond)),
            "s",
            "the same question to a component awake: first token",
            Spread(tuple(alone)),
            ratio=Spread(tuple(beyond)).median / Spread(tuple(alone)).median,
            ratio_means="beyond the wake / first token awake",
            target="<= 0.5",
            target_on_value=True,
            note=f"{'quick; ' if quick else ''}the copy is read every {wake.DESCRIBE_S:g} s "
            f"(DescribeInferenceComponent); refused runtime calls per wait: "
            f"{', '.join(str(c) for c in calls)}; the machine is shared, so times are noisy",
        ),
        figure(
            f"Wake, runtime calls refused while {QUESTIONS_AT_ONCE} questions wait for one "
            f"{long_wake_s:g} s wake",
            Spread((float(shared),)),
            "calls",
            "each question retrying every second on its own",
            Spread((blind,)),
            ratio=shared / blind,
            ratio_means="ours / blind retries",
            target="<= 0.5",
            note=f"one shared wake: each question's first call, then one retry at a time on a backoff "
            f"({wake.RETRY_FIRST_S:g} s, x{wake.RETRY_GROWTH:g}, at most every {wake.RETRY_MAX_S:g} s "
            f"while the copies are read: about 28 in 10 minutes)",
        ),
    ]
