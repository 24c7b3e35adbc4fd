"""``summarize FILE.pdf``: a PDF's page count and summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chat_core.commands import Subparsers, local_allowance, reading_input, record_local_usage
from chat_core.conversations.store import LOCAL_USER
from chat_core.documents.pdf import read_pdf
from chat_core.documents.summaries import DETAILS, summarize
from chat_core.i18n import plural
from chat_core.models.catalog import DEFAULT_MODEL, load_catalog
from chat_core.usage.records import counted, summary_usage


def add(commands: Subparsers) -> None:
    parser = commands.add_parser("summarize", help="print a PDF's page count and summary")
    parser.add_argument("file", type=Path)
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=list(load_catalog()))
    parser.add_argument("--password")
    parser.add_argument("--detail", choices=DETAILS, default="short")
    parser.set_defaults(run=_summarized)


@reading_input
def _summarized(args: argparse.Namespace) -> int:
    """Page count and summary on stdout, progress on stderr."""
    spec = load_catalog()[args.model]
    data = args.file.read_bytes()
    document = read_pdf(data, args.file.name, password=args.password)
    pages, characters = plural(document.page_count, "page", "pages"), f"{document.characters} characters"
    print(f"{pages}, {characters}")
    if document.notice:
        print(document.notice.en, file=sys.stderr)
    summary = summarize(
        document.text,
        spec,
        spec.defaults,
        detail=args.detail,
        progress=lambda done, total: print(f"chunk {done}/{total}", file=sys.stderr, flush=True),
        admit=local_allowance().admit,
    )
    print(summary.text)
    counted(record_local_usage, summary_usage(LOCAL_USER, spec, summary))
    return 0
