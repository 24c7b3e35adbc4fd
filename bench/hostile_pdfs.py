"""Figure 7: PDFs built to exhaust a reader, refused or cut short.

Each file is read in a fresh process, which reports the time to the answer
(``read_pdf`` returning text cut at a limit, or refusing) and how much its own
peak size grew: the app's process never parses a PDF itself.  The baseline is
pypdf alone in a fresh process, reading every page, as the app did before.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.results import Figure, Spread, figure
from tests.hostile.hostile_pdfs import shared_pages, text_bomb
from tests.shared import ROOT

MEASURE = """
import io, json, resource, sys, time
import pypdf
from chat_core.documents.pdf import PDFError, read_pdf
data = sys.stdin.buffer.read()
before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
if sys.argv[1] == "ours":
    try:
        outcome = read_pdf(data).notice.en
    except PDFError as error:
        outcome = str(error)
else:
    outcome = f"{sum(len(p.extract_text()) for p in pypdf.PdfReader(io.BytesIO(data)).pages):,} characters"
seconds = time.perf_counter() - start
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({"seconds": seconds, "grown_mb": grown, "outcome": outcome}))
"""


def measure(way: str, data: bytes) -> dict[str, float | str]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, way], input=data, capture_output=True, cwd=ROOT, check=True
    )
    return json.loads(done.stdout)


def run(quick: bool, out: Path) -> list[Figure]:
    files = {
        "text bomb, 58 KB inflating to 60 million letters": text_bomb(),
        "20,000 pages drawing one 1,850-letter stream, 3.1 MB": shared_pages(),
    }
    figures, grown, grown_pypdf = [], [], []
    for label, data in files.items():
        ours = [measure("ours", data) for _ in range(1 if quick else 3)]
        pypdf = measure("pypdf", data)
        seconds = Spread(tuple(float(run["seconds"]) for run in ours))
        grown += [float(run["grown_mb"]) for run in ours]
        grown_pypdf.append(float(pypdf["grown_mb"]))
        figures.append(
            figure(
                f"Hostile PDF, {label}: time to the answer",
                seconds,
                "s",
                "pypdf alone, every page",
                Spread((float(pypdf["seconds"]),)),
                ratio=float(pypdf["seconds"]) / seconds.median,
                ratio_means="pypdf / ours",
                target="<= 5 s",
                target_on_value=True,
                note=f"ours: {ours[0]['outcome']} pypdf: {pypdf['outcome']}",
            )
        )
    figures.append(
        figure(
            "Hostile PDFs: growth of the reading app's process, largest over both files",
            Spread((max(grown),)),
            "MB",
            "pypdf alone, every page",
            Spread((max(grown_pypdf),)),
            ratio=max(grown_pypdf) / max(max(grown), 1.0),
            ratio_means="pypdf / ours, ours counted as at least 1 MB",
            target="<= 50 MB",
            target_on_value=True,
        )
    )
    return figures
