"""Figure: the load one replica holds.  ``streamlit run app.py`` and N sessions over
its websocket (bench/streamlit_client.py) all asking at once, N = 1, 10, 25, 50,
once with SQLite and once with DynamoDB + S3 on moto's server (threaded: one request at
a time, it would measure moto, not the app).

The model stands in for a remote GPU endpoint: ``python -m chat_core endpoint
--concurrent`` with the scripted model at 30 tokens/s (a 7B model on a GPU), its first
token 0.2 s after the request (``FIRST_TOKEN_S``), every request answered at once (no
server-side queue), so the endpoint is never the limit.  Each session asks its own
question, of words no other session's holds; the scripted answer quotes it, so it is
200 tokens long and checked exact: every markdown text the session is sent for its
answer is a prefix of its own answer (no token lost, duplicated, or from another
session), and the last one is all of it.

Figures at each N, against one session alone in the same run: each session's
delivered tokens/s (from its first token to its last), first token p50 and p95 (from
sending the question to its answer's first text arriving), and the app process's CPU
seconds and memory per session.  The client is one asyncio loop in this process; its
own CPU time per second of the run is reported, to show it is not the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3

from bench.results import Figure, Spread, figure
from bench.streamlit_client import Session
from chat_core.conversations.backends import open_store
from chat_core.conversations.dynamodb import create_table
from chat_core.conversations.store import LOCAL_USER
from tests.moto_server import moto_server
from tests.shared import app_process, endpoint_server_process, environment

ENDPOINT = "bench-load"
MODEL_ID = f"custom-{ENDPOINT}"
TOKENS_PER_S = 30  # a 7B model on a GPU
# Its first token 0.20 s after the request: prefill and the network's round trip.  The
# LLMPerf leaderboard (github.com/ray-project/llmperf-leaderboard, Dec 2023: Llama-2-7B
# chat, 550-token prompts, 5 requests at once) measured median times to first token of
# 0.20 s (Anyscale), 0.33 (Fireworks), 0.52 (Together), 1.13 (Lepton), 3.68 (Replicate):
# the fastest, the one that leaves the app the least time to hide in.
FIRST_TOKEN_S = 0.20
ANSWER_TOKENS = 200
# The scripted answer: "You asked: QUESTION This scripted answer streams word by word
# at a set pace.", a token a word: 12 words around the question.
QUESTION_WORDS = ANSWER_TOKENS - 12
SESSIONS = (1, 10, 25, 50)
AWS = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def question(session: int) -> str:
    return " ".join([f"s{session}"] + [f"s{session}w{word}" for word in range(1, QUESTION_WORDS)])


def expected(session: int) -> str:
    return f"You asked: {question(session)} This scripted answer streams word by word at a set pace."


@dataclass
class Asked:
    """One session's question and what arrived of its answer."""

    number: int
    sent: float = 0.0
    first: float | None = None
    last: float = 0.0
    shown: str = ""
    wrong: bool = False
    drawn: float = 0.0  # when the question was drawn on the page: the run reached the answer

    def seen(self, body: str) -> None:
        if body == question(self.number) and not self.drawn:
            self.drawn = time.perf_counter()
        if not body.startswith("You asked:") and body != "You":
            return
        answer = expected(self.number)
        if not answer.startswith(body) or len(body) < len(self.shown):
            self.wrong = True  # a token lost, duplicated, reordered or another session's
            return
        if body != self.shown:
            at = time.perf_counter()
            self.first = self.first or at
            self.last = at
            self.shown = body

    @property
    def right(self) -> bool:
        return not self.wrong and self.shown == expected(self.number)

    @property
    def first_token_s(self) -> float:
        return (self.first or self.sent) - self.sent

    @property
    def tokens_per_s(self) -> float:
        return (
            (ANSWER_TOKENS - 1) / (self.last - self.first) if self.first and self.last > self.first else 0.0
        )


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError("no VmRSS")


@dataclass
class Round:
    asked: list[Asked]
    app_cpu_s: float  # the app process's, from the first question to the last answer
    rss_added_mb: float  # the app's resident memory, after the answers, over before the sessions
    client_cpu_per_s: float  # this process's CPU seconds per second while they ran

    def first_tokens(self) -> list[float]:
        return [one.first_token_s for one in self.asked]

    def question_shown(self) -> list[float]:
        """Seconds from sending each question to its page drawing it: the page's run up
        to the answer (sidebar, history, the question); the rest of the first token's
        time is the answer's path (store, endpoint call, first frame)."""
        return [one.drawn - one.sent for one in self.asked]


async def _round(url: str, pid: int, sessions: int) -> Round:
    rss_before = _rss_mb(pid)
    asked = [Asked(number) for number in range(sessions)]
    tabs = [Session(url, one.seen) for one in asked]
    await asyncio.gather(*(tab.open() for tab in tabs))
    await asyncio.sleep(1)  # the app settles
    cpu_before, client_before, started = _cpu_s(pid), time.process_time(), time.perf_counter()
    for tab, one in zip(tabs, asked, strict=True):
        one.sent = time.perf_counter()
        await tab.ask(question(one.number))
    await asyncio.gather(*(tab.finished() for tab in tabs))
    elapsed = time.perf_counter() - started
    client_cpu, app_cpu = time.process_time() - client_before, _cpu_s(pid) - cpu_before
    rss_after = _rss_mb(pid)
    await asyncio.gather(*(tab.close() for tab in tabs))
    return Round(asked, app_cpu, rss_after - rss_before, client_cpu / elapsed)


def _prepared(store_url: str) -> None:
    """The local user's preferences, as the sidebar keeps them: the stand-in endpoint
    added (TGI Messages API) and picked, and the first-run notice seen."""
    endpoint = {
        "endpoint_name": ENDPOINT,
        "payload": "messages",
        "context_window": 8192,
        "region": "us-east-1",
        "component": None,
    }
    open_store(store_url).set_preferences(
        LOCAL_USER, {"endpoints": [endpoint], "choices": {"model": MODEL_ID}, "demo_notice_seen": True}
    )


@contextlib.contextmanager
def _stores(kind: str, folder: str) -> Iterator[dict[str, str]]:
    """The app's environment for SQLite, or for DynamoDB + S3 on moto's server."""
    if kind == "sqlite":
        yield {"CHAT_STORE": f"sqlite://{folder}/chat.db"}
        return
    with moto_server(threaded=True) as moto:
        aws = AWS | {"AWS_ENDPOINT_URL_DYNAMODB": moto, "AWS_ENDPOINT_URL_S3": moto}
        with environment(aws):
            create_table("load")
            boto3.client("s3").create_bucket(Bucket="uploads")
        yield aws | {"CHAT_STORE": "dynamodb://load", "UPLOAD_STORE": "s3://uploads/team"}


def _rounds(kind: str, counts: tuple[int, ...]) -> dict[int, Round]:
    rounds = {}
    # The endpoint's delay per call, then the scripted model's first token one token later.
    delay_ms = 1000 * (FIRST_TOKEN_S - 1 / TOKENS_PER_S)
    stand_in = ("--concurrent", "--max-queue", str(2 * max(counts)), "--latency", f"{delay_ms:.0f}")
    model = f"scripted:{1000 / TOKENS_PER_S}"
    with (
        tempfile.TemporaryDirectory() as folder,
        _stores(kind, folder) as stores,
        endpoint_server_process(
            None, model, endpoints=(f"{ENDPOINT}=messages",), options=stand_in
        ) as endpoint,
    ):
        app = stores | AWS | {"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint, "CHAT_DATA_DIR": folder}
        with environment(app):
            _prepared(app["CHAT_STORE"])
        with app_process(app) as (url, pid):
            asyncio.run(_round(url, pid, 1))  # the first run imports and loads what it needs
            for count in counts:
                rounds[count] = asyncio.run(_round(url, pid, count))
    return rounds


STORES = {"sqlite": "SQLite", "dynamodb": "DynamoDB + S3 (moto)"}
NOTE = (
    "stand-in endpoint: the scripted model at {rate} tokens/s, {tokens}-token answers, every request "
    "answered at once (python -m chat_core endpoint --concurrent); its first token comes "
    "{first_ms:.0f} ms after the request (prefill and network: the fastest median time to first token "
    "of Llama-2-7B endpoints on the LLMPerf leaderboard, Dec 2023); "
    "one session alone: first token {alone_ms:.0f} ms, "
    "{alone_rate:.1f} tokens/s; client CPU {client:.2f} s per s (one asyncio loop); "
    "app CPU {cpu:.2f} s and {rss:.1f} MB RSS per session; {wrong} of {count} answers wrong; "
    "first token p50 {first:.2f} s, of which {drawn:.2f} s before the page drew the question"
)


def run(quick: bool, out: Path) -> list[Figure]:
    counts = (1, 5) if quick else SESSIONS
    figures, curves = [], {}
    for kind, label in STORES.items():
        rounds = _rounds(kind, counts)
        curves[label] = rounds
        alone, most = rounds[1], max(counts)
        loaded = rounds[most]
        rates = Spread(tuple(one.tokens_per_s for one in loaded.asked))
        rate_alone = Spread(tuple(one.tokens_per_s for one in alone.asked))
        firsts, first_alone = loaded.first_tokens(), alone.first_tokens()
        wrong = sum(not one.right for one in loaded.asked)
        note = NOTE.format(
            rate=TOKENS_PER_S,
            tokens=ANSWER_TOKENS,
            first_ms=1000 * FIRST_TOKEN_S,
            alone_ms=1000 * first_alone[0],
            alone_rate=rate_alone.median,
            client=loaded.client_cpu_per_s,
            cpu=loaded.app_cpu_s / most,
            rss=loaded.rss_added_mb / most,
            wrong=wrong,
            count=most,
            first=statistics.median(firsts),
            drawn=statistics.median(loaded.question_shown()),
        )
        at = f"{most} sessions at once, {label}"
        figures += [
            figure(
                f"Load: delivered tokens/s per session, {at}",
                rates,
                "tokens/s",
                "one session alone",
                rate_alone,
                ratio=rates.median / rate_alone.median,
                ratio_means="median session's tokens/s / one session's",
                target=">= 0.9",
                note=note,
            ),
            figure(
                f"Load: first token (median; ratio and target on p95), {at}",
                Spread(tuple(firsts)),
                "s",
                "one session alone",
                Spread(tuple(first_alone)),
                ratio=_p95(firsts) / first_alone[0],
                ratio_means="p95 / one session's",
                target="<= 2",
            ),
            figure(
                f"Load: wrong answers, {at}",
                Spread((float(wrong),)),
                "answers",
                "answers checked exact",
                Spread((float(most),)),
                ratio=wrong / most,
                ratio_means="wrong / answers",
                target="<= 0",
                target_on_value=True,
            ),
        ]
    _plot(curves, out / "load.png")
    return figures


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def _plot(curves: dict[str, dict[int, Round]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    fig, (rates, firsts) = pyplot.subplots(1, 2, figsize=(9, 3.6), dpi=100)
    for label, rounds in curves.items():
        counts = sorted(rounds)
        alone = rounds[1]
        rate_alone = statistics.median(one.tokens_per_s for one in alone.asked)
        rates.plot(
            counts,
            [statistics.median(one.tokens_per_s for one in rounds[n].asked) / rate_alone for n in counts],
            marker="o",
            label=label,
        )
        firsts.plot(
            counts,
            [_p95(rounds[n].first_tokens()) / alone.first_tokens()[0] for n in counts],
            marker="o",
            label=label,
        )
    rates.axhline(0.9, linestyle=":", color="gray", label="target")
    firsts.axhline(2, linestyle=":", color="gray", label="target")
    rates.set_ylabel("tokens/s per session / one alone")
    firsts.set_ylabel("first token p95 / one alone")
    for ax in (rates, firsts):
        ax.set_xlabel("sessions asking at once")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    pyplot.close(fig)


if __name__ == "__main__":  # a quick look: python -m bench.load [sqlite|dynamodb] N...
    import sys

    for count, one in _rounds(sys.argv[1], tuple(int(n) for n in sys.argv[2:])).items():
        firsts = one.first_tokens()
        print(
            f"N={count}: tokens/s median {statistics.median(a.tokens_per_s for a in one.asked):.1f}, "
            f"first token p50 {statistics.median(firsts):.3f} s p95 {_p95(firsts):.3f} s, "
            f"wrong {sum(not a.right for a in one.asked)}, app CPU {one.app_cpu_s:.1f} s, "
            f"RSS +{one.rss_added_mb:.0f} MB, client CPU {one.client_cpu_per_s:.2f} s/s"
        )
        print(f"  question on the page after {statistics.median(one.question_shown()):.3f} s (p50)")
