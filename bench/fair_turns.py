"""Fair turns: another user's question while one user summarizes GeoTopo.

The real bundled model (SmolLM2, in this process, as the app runs it).  ben's first
token is timed alone; then ana summarizes GeoTopo (``Summary.start``, as the page
does) and ben asks again, each time just after one of its parts has begun (its worst
moment: he waits for all of that part).  A part is one turn on the model, and users
are served in turn, so ben's first token should come within the part under way plus
his own first token alone.  The ratio is his first token over that bound, the worst
of the repeats; the part's time is measured from the end of the part before to its
own end.  ben's answer is stopped at its first token: only its wait is the figure.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

from bench.results import Figure, Spread, figure
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.documents.pdf import read_pdf
from chat_core.documents.summaries import Summary
from chat_core.models.catalog import GenerationParams, load_catalog
from tests.shared import PDFS, until

GEOTOPO = PDFS / "GeoTopo-komprimiert.pdf"
LOCAL = load_catalog()["local-smollm2"]
QUESTION = Settings(LOCAL, GenerationParams(max_new_tokens=16, temperature=0.2, top_p=0.9, seed=1))
# How long after a part's predecessor ends ben asks: the summary's thread starts the next
# part within milliseconds, and reading a part's prompt takes seconds.
AFTER_PART_S = 0.3
POLL_S = 0.01


def first_token_s(owner: str) -> float:
    """Seconds from ``owner`` asking to the first text of the answer, which is then stopped."""
    started = time.perf_counter()
    with ChatSession(owner=owner).ask("Which river flows through Seoul?", QUESTION) as reply:
        next(iter(reply))
        return time.perf_counter() - started


def run(quick: bool, out: Path) -> list[Figure]:
    repeats = 1 if quick else 3
    document = read_pdf(GEOTOPO.read_bytes(), GEOTOPO.name)
    # Quick: 30 pages in parts of a quarter of the window, for a smoke check in minutes.
    text = "\n\n".join(document.pages[:30]) if quick else document.text
    spec = replace(LOCAL, context_window=LOCAL.context_window // 4) if quick else LOCAL
    first_token_s("ben")  # the model loaded, its first call warmed
    alone = Spread(tuple(first_token_s("ben") for _ in range(repeats)))

    summary = Summary.start(text, spec, spec.defaults, detail="short", owner="ana")
    ends: list[float] = []  # when each of the summary's calls ended
    watching = threading.Event()

    def watch() -> None:
        while watching.is_set():
            if summary.calls > len(ends):
                ends.append(time.perf_counter())
            time.sleep(POLL_S)

    watching.set()
    threading.Thread(target=watch, daemon=True).start()
    waited, bounds = [], []
    try:
        for _ in range(repeats):
            done = len(ends)
            assert until(lambda done=done: len(ends) > done, 1800)  # a part ends: the next one begins
            begun = ends[-1]
            time.sleep(AFTER_PART_S)
            under_way = len(ends)  # its index in ``ends``, once it ends
            waited.append(first_token_s("ben"))
            assert until(lambda under_way=under_way: len(ends) > under_way, 1800)
            bounds.append(ends[under_way] - begun + alone.median)
            assert summary.error is None, summary.error
    finally:
        summary.stop()
        summary.wait(60)
        watching.clear()
    worst = max(w / b for w, b in zip(waited, bounds, strict=True))
    return [
        figure(
            "Fair turns: another user's first token while one summarizes GeoTopo on the bundled model",
            Spread(tuple(waited)),
            "s",
            "one part under way + own first token alone",
            Spread(tuple(bounds)),
            ratio=worst,
            ratio_means="worst of the repeats: first token / (part + own alone)",
            target="<= 1.0",
            note=f"{'quick: 30 pages, parts of a quarter of the window; ' if quick else ''}"
            f"asked {AFTER_PART_S:g} s after a part began; own first token alone: "
            f"{alone.median:.2f} s (median of {repeats}); the machine is shared, so times are noisy",
        )
    ]
