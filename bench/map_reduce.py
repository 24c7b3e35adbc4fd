"""Figure 4: map-reduce summary of GeoTopo at concurrency 1, 2, 4 and 8.

The app's ``summarize`` with real boto3 against the local endpoint server on
127.0.0.1 with 500 ms of latency per call, like a remote endpoint.  Its model
is a stand-in that answers at once: a remote endpoint runs its calls side by
side on GPUs, which this 2-core machine cannot do with the bundled model, and
the figure is about our client overlapping calls, not about the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bench.results import Figure, Spread, figure, timed
from chat_core.documents.pdf import read_pdf
from chat_core.documents.summaries import summarize
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.server import EndpointServer
from chat_core.models.catalog import custom_model
from tests.shared import PDFS, pointed_at

GEOTOPO = PDFS / "GeoTopo-komprimiert.pdf"
SERVED = "bench-falcon"
LATENCY_S = 0.5
LEVELS = (1, 2, 4, 8)


def one_sentence(prompt: str, **sampling: object) -> Iterator[str]:
    """The stand-in model: a summary of one sentence, at once (the scripted model
    quotes its input, and summaries that do not get shorter cannot be combined)."""
    yield "This part, summarized in one sentence."


def run(quick: bool, out: Path) -> list[Figure]:
    document = read_pdf(GEOTOPO.read_bytes(), GEOTOPO.name)
    text = "\n\n".join(document.pages[:30]) if quick else document.text
    spec = custom_model(SERVED, "tgi", 2048, None)  # Falcon 7B's window, payload and prompt
    repeats = 1 if quick else 3
    endpoint = LocalEndpoint({SERVED: "tgi"}, latency_s=LATENCY_S, complete=one_sentence)
    server = EndpointServer(endpoint, port=0, quiet=True).start()
    calls: dict[int, int] = {}
    seconds: dict[int, list[float]] = {level: [] for level in LEVELS}
    try:
        with pointed_at(server.url):
            for _ in range(repeats):
                for level in LEVELS:
                    summary = None

                    def one(level: int = level) -> None:
                        nonlocal summary
                        summary = summarize(text, spec, spec.defaults, concurrency=level)

                    seconds[level].append(timed(one))
                    assert summary is not None and summary.complete
                    calls[level] = summary.chunks + 1
    finally:
        server.shutdown()
    spreads = {level: Spread(tuple(values)) for level, values in seconds.items()}
    serial = spreads[1]
    figures = []
    for level in LEVELS[1:]:
        speedup = serial.median / spreads[level].median
        figures.append(
            figure(
                f"Map-reduce summary, {'30 pages of ' if quick else ''}GeoTopo, "
                f"{calls[level]} calls of {LATENCY_S * 1000:.0f} ms, concurrency {level}",
                spreads[level],
                "s",
                "concurrency 1",
                serial,
                ratio=speedup / level,
                ratio_means=f"speed-up {speedup:.2f}x / {level}",
                target=">= 0.8" if level <= 4 else "",
            )
        )
    _plot(spreads, out / "map_reduce.png")
    return figures


def _plot(spreads: dict[int, Spread], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    levels = sorted(spreads)
    speedups = [spreads[1].median / spreads[level].median for level in levels]
    fig, ax = pyplot.subplots(figsize=(6, 3.6), dpi=100)
    ax.plot(levels, speedups, marker="o", label="measured")
    ax.plot(levels, levels, linestyle="--", label="ideal")
    ax.plot(levels, [0.8 * level for level in levels], linestyle=":", label="target (0.8 x concurrency)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(level) for level in levels])
    ax.set_xlabel("concurrent calls")
    ax.set_ylabel("speed-up over 1")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    pyplot.close(fig)
