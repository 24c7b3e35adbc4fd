"""What the repetition guard costs (chat_core/conversations/repetition.py).

The guard reads every streamed token of every answer, in the thread that reads the
answer, beside the model's own thread: its time per token is set against SmolLM2's
own time per token, measured in the same run.  Fed the bundled tokenizer's pieces of
an English text with no loop, its slowest case (no span length is ruled out early by
a match), then one that loops from its middle on, which must be caught.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.results import Figure, Spread, figure, interleaved, timed
from chat_core.conversations.repetition import RepetitionGuard
from chat_core.local import model as local_model
from chat_core.models.catalog import load_catalog

TOKENS = 2048  # the most new tokens the sidebar allows
PROMPT = "Plan a day in Seoul for a visitor who likes history, food and walking."
LOOP = " The error code is E42 again."


def pieces(text: str) -> list[str]:
    """``text`` as the bundled model streams it: one piece per token."""
    llm = local_model.model()
    ids = llm.tokenize(text.encode(), add_bos=False)
    return [llm.detokenize([one]).decode(errors="replace") for one in ids]


def guarded(tokens: list[str]) -> int:
    """How many tokens the guard lets through before it calls the text a loop (all, if never)."""
    guard = RepetitionGuard()
    for count, token in enumerate(tokens, 1):
        if guard.looping(token):
            return count
    return len(tokens)


def model_us_per_token(new_tokens: int) -> float:
    """SmolLM2's own time per token, greedy, past its first token."""
    local = load_catalog()["local-smollm2"]
    llm = local_model.model()
    llm.reset()
    chunks = llm.create_completion(
        local.prompt_format.render("", [], PROMPT), max_tokens=new_tokens, temperature=0.0, stream=True
    )
    next(chunks)
    start, count = time.perf_counter(), 0
    for _ in chunks:
        count += 1
    return (time.perf_counter() - start) / max(count, 1) * 1e6


def run(quick: bool, out: Path) -> list[Figure]:
    repeats = 3 if quick else 11
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    plain = pieces(text)[:TOKENS]
    looping = plain[: TOKENS // 2] + pieces(LOOP * 200)
    assert guarded(plain) == len(plain), "the guard stopped a text that does not loop"
    caught = guarded(looping) - TOKENS // 2  # tokens of the loop streamed before it is stopped
    spreads = interleaved(
        {
            "guard": lambda: timed(lambda: guarded(plain)) / len(plain) * 1e6,
            "model": lambda: model_us_per_token(8 if quick else 16),
        },
        repeats,
    )
    guard, model = spreads["guard"], spreads["model"]
    return [
        figure(
            "Repetition guard, per token of a 2,048-token answer",
            guard,
            "us",
            "SmolLM2's own time per token",
            Spread(model.samples),
            ratio=model.median / guard.median,
            ratio_means="model / guard",
            target=">= 100",
            note=f"a looping answer is stopped {caught} tokens into its loop ({len(LOOP)}-character span)",
        )
    ]
