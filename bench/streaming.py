"""Figure 2: streaming through the app's path against llama-cpp-python alone.

The same ChatML prompt, greedy, the same number of new tokens, three ways:
llama-cpp-python's ``create_completion(stream=True)`` called directly (the
baseline); ``SagemakerEndpoint`` with the in-process client, as the app runs the
bundled model; and ``SagemakerEndpoint`` with boto3 through the local endpoint
server on 127.0.0.1 (HTTP, event-stream framing, botocore's decoder), run as
its own process as it is deployed: in a thread of this one, the server's and the
client's Python would take turns on one GIL.  The
model's prompt cache is emptied before every run, so each one reads the whole
prompt, as a new question does.

Per-token work: the same two paths around a model that answers at once (the
scripted model with no pace), in microseconds per token, against SmolLM2's own
time per token from the runs above.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from bench.results import Figure, Spread, figure
from chat_core.local import model as local_model
from chat_core.local import runtime
from chat_core.local.scripted import ScriptedModel
from chat_core.models.catalog import GenerationParams, load_catalog
from chat_core.models.endpoint import endpoint_llm
from chat_core.models.prompts import Turn
from tests.shared import endpoint_server_process, pointed_at

SERVED = "bench-smollm2"
SHARED_CORES = (
    "the server and the app run on the same 2 cores as llama.cpp's 2 threads: each token's HTTP, "
    "event-stream and JSON work, on both sides, takes CPU from the model (a remote endpoint has its own)"
)
SYSTEM = "You are a helpful assistant. Answer clearly and briefly."
HISTORY = [
    Turn(f"What is district {i} of Seoul known for?", f"District {i} is known for its markets and parks.")
    for i in range(8)
]
QUESTION = "Plan a day in Seoul for a visitor who likes history, food and walking."
WORDS = 2000  # the scripted answer quotes the question: a question of WORDS words, an answer as long


class Stream:
    """One streamed answer: when its first text came and how fast the rest did."""

    def __init__(self, chunks: Iterable[str]) -> None:
        start = time.perf_counter()
        first = last = start
        parts = []
        for chunk in chunks:
            if not chunk:
                continue
            last = time.perf_counter()
            if not parts:
                first = last
            parts.append(chunk)
        self.text = "".join(parts)
        self.first_token_s = first - start
        tokens = local_model.count_tokens(self.text)
        self.tokens_per_s = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0


def per_token_work(repeats: int) -> dict[str, Spread]:
    """Microseconds per token on each path when the model itself takes none."""
    local = load_catalog()["local-smollm2"]
    paths = {"in-process": local, "server": replace(local, endpoint_name=SERVED)}
    prompt = local.prompt_format.render("", [], " word" * WORDS)
    params = GenerationParams(max_new_tokens=WORDS + 50, temperature=0.0, top_p=1.0)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    model = runtime.ENDPOINT.complete
    runtime.ENDPOINT.complete = ScriptedModel(token_ms=0).complete
    try:
        with endpoint_server_process(SERVED, model="scripted:0") as url, pointed_at(url):
            for _ in range(repeats + 1):  # the first round warms both paths up
                for name, spec in paths.items():
                    start = time.perf_counter()
                    tokens = sum(1 for chunk in endpoint_llm(spec, params).stream(prompt) if chunk)
                    samples[name].append((time.perf_counter() - start) / tokens * 1e6)
    finally:
        runtime.ENDPOINT.complete = model
    return {name: Spread(tuple(times[1:])) for name, times in samples.items()}


def run(quick: bool, out: Path) -> list[Figure]:
    new_tokens = 32 if quick else 128
    repeats = 3 if quick else 11
    local = load_catalog()["local-smollm2"]
    remote = replace(local, endpoint_name=SERVED)  # the same model and prompt, through boto3
    params = GenerationParams(max_new_tokens=new_tokens, temperature=0.0, top_p=1.0, seed=1)

    def direct(prompt: str) -> Iterator[str]:
        for chunk in local_model.model().create_completion(
            prompt, max_tokens=new_tokens, temperature=0.0, top_p=1.0, stop=list(local.stop), stream=True
        ):
            yield chunk["choices"][0]["text"]

    paths = {
        "direct": direct,
        "in-process": lambda prompt: endpoint_llm(local, params).stream(prompt),
        "server": lambda prompt: endpoint_llm(remote, params).stream(prompt),
    }
    streams: dict[str, list[Stream]] = {name: [] for name in paths}
    with endpoint_server_process(SERVED) as url, pointed_at(url):
        Stream(paths["server"]("Hello"))  # both processes load the model before timing
        for round_ in range(repeats):
            # A new prompt each round, so that the server's model cannot reuse the
            # last one; this process's is emptied before each run.
            system = f"{SYSTEM} This is visit {round_ + 1}."
            prompt = local.prompt_format.render(system, HISTORY, QUESTION)
            for name, path in paths.items():  # in turns, so the machine's load falls alike
                local_model.model().reset()
                streams[name].append(Stream(path(prompt)))
    rounds = zip(*streams.values(), strict=True)
    same = all(len({stream.text for stream in round_}) == 1 for round_ in rounds)
    note = "" if same else "the three paths did not produce the same text: compare with care"
    first = {n: Spread(tuple(s.first_token_s * 1e3 for s in runs)) for n, runs in streams.items()}
    rate = {n: Spread(tuple(s.tokens_per_s for s in runs)) for n, runs in streams.items()}
    work = per_token_work(repeats)
    model_us = Spread(tuple(1e6 / s for s in rate["direct"].samples))
    figures = []
    for name, label in (("in-process", "in-process client"), ("server", "boto3 via endpoint server")):
        figures.append(
            figure(
                f"First token, SagemakerEndpoint + {label}",
                first[name],
                "ms",
                "llama-cpp-python direct",
                first["direct"],
                ratio=first[name].median / first["direct"].median,
                ratio_means="ours / direct",
                target="<= 1.10",
                note=note,
            )
        )
        figures.append(
            figure(
                f"Tokens/s, SagemakerEndpoint + {label}",
                rate[name],
                "tokens/s",
                "llama-cpp-python direct",
                rate["direct"],
                ratio=rate[name].median / rate["direct"].median,
                ratio_means="ours / direct",
                target=">= 0.97" if name == "in-process" else ">= 0.95",
                note=SHARED_CORES if name == "server" else "",
            )
        )
        figures.append(
            figure(
                f"Per-token work, SagemakerEndpoint + {label}",
                work[name],
                "us",
                "SmolLM2's own time per token",
                model_us,
                ratio=model_us.median / work[name].median,
                ratio_means="model / ours",
                target=">= 100",
            )
        )
    return figures
