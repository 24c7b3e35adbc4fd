"""Command line: ``python -m chat_core endpoint | endpoints | summarize FILE.pdf | ask FILE.pdf...
| feedback | usage | create-table TABLE``."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

from chat_core.conversations.backends import open_store
from chat_core.conversations.dynamodb import create_table
from chat_core.conversations.feedback import preference_pairs, rated, to_jsonl
from chat_core.conversations.session import ChatSession, Settings
from chat_core.conversations.store import LOCAL_USER
from chat_core.documents.pdf import read_pdf
from chat_core.documents.summaries import DETAILS, summarize
from chat_core.documents.uploads import open_uploads, sha256
from chat_core.errors import ChatError
from chat_core.i18n import plural
from chat_core.local.endpoint import DEFAULT_ENDPOINTS, LocalEndpoint
from chat_core.local.server import REQUEST_DEADLINE_S, EndpointServer
from chat_core.models.catalog import DEFAULT_MODEL, load_catalog
from chat_core.models.discovery import (
    AccountEndpoint,
    Detection,
    ListingUnavailable,
    list_endpoints,
    listing_wanted,
)
from chat_core.models.handlers import PAYLOADS
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.grounding import NO_SOURCE
from chat_core.retrieval.indexing import IndexProgress
from chat_core.retrieval.library import Library
from chat_core.retrieval.payloads import EMBEDDING_PAYLOADS
from chat_core.retrieval.search import TOP_K
from chat_core.usage.prices import instance_prices
from chat_core.usage.report import period_since, report

FORMATS = [*PAYLOADS, *EMBEDDING_PAYLOADS]


def _endpoint_format(text: str) -> tuple[str, str]:
    name, sep, payload = text.partition("=")
    if not sep or not name or payload not in FORMATS:
        raise argparse.ArgumentTypeError(f"expected NAME=FORMAT with FORMAT one of {', '.join(FORMATS)}")
    return name, payload


def _component_format(text: str) -> tuple[str, str, str]:
    """ENDPOINT/COMPONENT=FORMAT: "/" cannot be in an endpoint's name, so it parts them."""
    name, payload = _endpoint_format(text)
    endpoint, sep, component = name.partition("/")
    if not sep or not endpoint or not component:
        raise argparse.ArgumentTypeError("expected ENDPOINT/COMPONENT=FORMAT")
    return endpoint, component, payload


def _instances(text: str) -> tuple[str, tuple[str, int]]:
    name, _, serving = text.partition("=")
    instance_type, _, count = serving.partition(":")
    if not name or not instance_type.startswith("ml.") or not count.isdigit() or not int(count):
        raise argparse.ArgumentTypeError("expected ENDPOINT=TYPE:COUNT, such as my-llama=ml.g5.2xlarge:1")
    return name, (instance_type, int(count))


def _since(text: str) -> float:
    """A date or time in ISO 8601 (UTC unless it says otherwise) as a timestamp."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError("expected a date such as 2025-06-01 or 2025-06-01T09:00") from error
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_core")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "endpoint", help="serve the bundled models behind the SageMaker runtime API on 127.0.0.1"
    )
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--format",
        type=_endpoint_format,
        action="append",
        metavar="NAME=FORMAT",
        help=f"serve endpoint NAME in payload FORMAT: a chat format ({', '.join(PAYLOADS)}) for the "
        f"chat model, an embedding format ({', '.join(EMBEDDING_PAYLOADS)}) for the embedding model; "
        "repeatable. "
        f"Default: {', '.join(f'{n}={f}' for n, f in DEFAULT_ENDPOINTS.items())}",
    )
    serve.add_argument(
        "--component",
        type=_component_format,
        action="append",
        default=[],
        metavar="ENDPOINT/COMPONENT=FORMAT",
        help="serve inference component COMPONENT on endpoint ENDPOINT in payload FORMAT (as --format), "
        "called with InferenceComponentName; an endpoint hosts components or a model, not both; "
        "repeatable",
    )
    serve.add_argument("--latency", type=float, default=0, metavar="MS", help="added delay per call")
    serve.add_argument("--max-queue", type=int, default=16, help="requests allowed to wait before throttling")
    serve.add_argument(
        "--request-deadline",
        type=float,
        default=REQUEST_DEADLINE_S,
        metavar="S",
        help="seconds a client has to send a whole request from its first byte (default %(default)s)",
    )
    listed = commands.add_parser(
        "endpoints", help="list the region's InService SageMaker endpoints and the payload format of each"
    )
    listed.add_argument("--json", action="store_true", help="print a JSON list of objects")
    summary = commands.add_parser("summarize", help="print a PDF's page count and summary")
    summary.add_argument("file", type=Path)
    summary.add_argument("--model", default=DEFAULT_MODEL, choices=list(load_catalog()))
    summary.add_argument("--password")
    summary.add_argument("--detail", choices=DETAILS, default="short")
    ask = commands.add_parser("ask", help="answer a question from PDFs, citing the pages it comes from")
    ask.add_argument("files", type=Path, nargs="+", metavar="FILE.pdf")
    ask.add_argument("--question", required=True)
    ask.add_argument("--top-k", type=int, default=TOP_K, help="passages to find (default %(default)s)")
    ask.add_argument("--no-answer", action="store_true", help="find the passages without asking the model")
    ask.add_argument("--json", action="store_true", help='print {"answer": ..., "sources": [...]}')
    ask.add_argument("--model", default=DEFAULT_MODEL, choices=list(load_catalog()))
    feedback = commands.add_parser(
        "feedback", help="print the rated answers in CHAT_STORE as JSON Lines (--pairs: comparisons)"
    )
    feedback.add_argument(
        "--pairs", action="store_true", help="print the comparisons as preference pairs instead"
    )
    feedback.add_argument(
        "--since", type=_since, default=0.0, metavar="DATE", help="rated (or chosen) on DATE or later, UTC"
    )
    _owner_option(feedback)
    table = commands.add_parser(
        "create-table", help="create the DynamoDB table for CHAT_STORE=dynamodb://TABLE"
    )
    table.add_argument("table")
    usage = commands.add_parser(
        "usage", help="questions, tokens, generation seconds and cost per model, from CHAT_STORE"
    )
    usage.add_argument(
        "--since",
        type=date.fromisoformat,
        metavar="DATE",
        help="the period's first day, YYYY-MM-DD in UTC (default: the first of this month)",
    )
    usage.add_argument(
        "--all",
        action="store_true",
        help="every user's usage, per user (the command line reads the store with the operator's "
        "own access); default: --owner's",
    )
    _owner_option(usage)
    usage.add_argument(
        "--instance",
        type=_instances,
        action="append",
        metavar="ENDPOINT=TYPE:COUNT",
        help="the instances serving an endpoint, for its cost (e.g. my-llama=ml.g5.2xlarge:1); repeatable",
    )
    usage.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = parser.parse_args(argv)

    # A bad input is one line on stderr and exit status 2, for every command that reads one.
    try:
        if args.command == "summarize":
            return _summarize(args.file, args.model, args.password, args.detail)
        if args.command == "ask":
            return _ask(args)
        if args.command == "endpoints":
            return _endpoints(args.json)
        if args.command == "usage":
            return _usage(args)
        if args.command == "feedback":
            export = preference_pairs if args.pairs else rated
            sys.stdout.write(to_jsonl(export(open_store(), args.owner, args.since)))
            return 0
    except OSError as error:
        print(f"error: cannot read {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    except ChatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "create-table":
        create_table(args.table)
        print(f"Created DynamoDB table {args.table}; set CHAT_STORE=dynamodb://{args.table}", file=sys.stderr)
        return 0

    components: dict[str, dict[str, str]] = {}
    for name, component, payload in args.component:
        components.setdefault(name, {})[component] = payload
    try:
        endpoint = LocalEndpoint(
            dict(args.format) if args.format else None,
            components=components,
            latency_s=args.latency / 1000,
            max_queue=args.max_queue,
        )
    except ValueError as error:  # an endpoint given a model and components
        serve.error(str(error))
    server = EndpointServer(endpoint, args.port, request_deadline_s=args.request_deadline)
    print(f"Serving {', '.join(endpoint.served)} on {server.url}", file=sys.stderr)
    print(f"  AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={server.url}", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _endpoints(as_json: bool) -> int:
    """One line per endpoint (its components indented under it) or, with ``--json``,
    a list of objects; why components are missing, if they are, on stderr."""
    listing = list_endpoints()
    if listing.notice:
        print(listing.notice.en, file=sys.stderr)
    if as_json:
        print(json.dumps([_endpoint_fields(endpoint) for endpoint in listing.endpoints], ensure_ascii=False))
        return 0
    rows = []
    for endpoint in listing.endpoints:
        rows.append((endpoint.name, endpoint.status, *_found(endpoint.detection), endpoint.instances))
        for part in endpoint.components:
            copies = plural(part.copies, "copy", "copies")
            rows.append(("  " + part.name, part.status, *_found(part.detection), copies))
    widths = [max(len(row[column]) for row in rows) for column in range(4)] if rows else []
    for row in rows:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]))
    if not rows:
        print("No InService endpoints in this region.", file=sys.stderr)
    return 0


def _found(detection: Detection) -> tuple[str, str]:
    return detection.format or "-", detection.detected_by


def _endpoint_fields(endpoint: AccountEndpoint) -> dict:
    return {
        "name": endpoint.name,
        "status": endpoint.status,
        "format": endpoint.detection.format,
        "detected_by": endpoint.detection.detected_by,
        "instance_type": endpoint.instance_type,
        "instance_count": endpoint.instance_count,
        "components": [
            {
                "name": part.name,
                "status": part.status,
                "format": part.detection.format,
                "detected_by": part.detection.detected_by,
                "copies": part.copies,
            }
            for part in endpoint.components
        ],
    }


def _summarize(file: Path, model_id: str, password: str | None, detail: str) -> int:
    """Page count and summary on stdout, progress on stderr."""
    spec = load_catalog()[model_id]
    data = file.read_bytes()
    document = read_pdf(data, file.name, password=password)
    pages, characters = plural(document.page_count, "page", "pages"), f"{document.characters} characters"
    print(f"{pages}, {characters}")
    if document.notice:
        print(document.notice.en, file=sys.stderr)
    summary = summarize(
        document.text,
        spec,
        spec.defaults,
        detail=detail,
        progress=lambda done, total: print(f"chunk {done}/{total}", file=sys.stderr, flush=True),
    )
    print(summary.text)
    return 0


def _pages(data: bytes, name: str) -> tuple[str, ...]:
    return read_pdf(data, name).pages


def _indexing() -> Callable[[IndexProgress], None]:
    """Indexing's progress on stderr: a line for each batch of pages, not each beat."""
    printed: set[int] = set()

    def show(step: IndexProgress) -> None:
        if step.done not in printed:
            printed.add(step.done)
            print(step.message.en, file=sys.stderr, flush=True)

    return show


def _ask(args: argparse.Namespace) -> int:
    """Answer and sources on stdout (one JSON object with ``--json``), indexing
    progress on stderr.  Indexes are kept in the upload store, as the app's are for the local user."""
    spec = load_catalog()[args.model]
    library = Library(open_uploads().for_owner(LOCAL_USER), embedder())
    chat = ChatSession(library=library)
    for file in args.files:
        data = file.read_bytes()
        name = str(file)  # cited as the user named it
        read = functools.partial(_pages, data, name)  # only when not indexed before
        chat.documents.append(library.add(sha256(data), name, read, progress=_indexing()))
    if notice := library.notice(chat.documents):
        print(notice.en, file=sys.stderr)
    if args.no_answer:
        answer, sources = None, library.retriever(chat.documents).search(args.question, args.top_k)
    else:
        with chat.ask(args.question, Settings(spec, spec.defaults), args.top_k) as reply:
            answer = "".join(reply)
        sources = reply.exchange.sources or []
    found = [
        {key: value for key, value in asdict(s).items() if key not in ("digest", "heading")} for s in sources
    ]
    if args.json:
        print(json.dumps({"answer": answer, "sources": found}, ensure_ascii=False))
        return 0
    if answer is not None:
        print(answer.strip(), end="\n\n")
    if not sources:
        print(NO_SOURCE.en)
    for number, source in enumerate(found, start=1):
        print(f"{number}. [{source['file']} p. {source['page']}] (score {source['score']:.3f})")
        print("   " + " ".join(source["text"].split())[:300])
    return 0


def _usage(args: argparse.Namespace) -> int:
    """The report on stdout: the local user's, or with ``--all`` every user's."""
    import pandas  # here: aligning columns is worth its 0.3 s of import to this command only

    period = period_since(args.since, time.time())
    records = open_store().usage(period.since, period.until, None if args.all else args.owner)
    found = report(records, period, _serving(args.instance).get, instance_prices(), by_user=args.all)
    if args.json:
        print(json.dumps(asdict(found), ensure_ascii=False))
        return 0
    since, until = (
        datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M") for at in asdict(period).values()
    )
    print(f"Usage from {since} to {until} UTC ({period.hours:,.1f} hours)")
    costs = [asdict(cost) | {"note": cost.note.en if cost.note else ""} for cost in found.costs]
    for title, rows in (
        ("Per model", [asdict(totals) for totals in found.models]),
        ("Per user", [asdict(totals) for totals in found.users]),
        ("Instance cost over the period", costs),
        ("Each user's share of the endpoint's instance time", [asdict(share) for share in found.shares]),
    ):
        if rows:
            # pandas (Streamlit's dependency) aligns the columns; one of None throughout is left out.
            table = pandas.DataFrame(rows).dropna(axis="columns", how="all")
            print(f"\n{title}\n{table.to_string(index=False, na_rep='-', formatters=_FORMATS)}")
    return 0


def _owner_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--owner", default=LOCAL_USER, help="whose (with login: ISSUER#SUBJECT; default %(default)s)"
    )


def _serving(given: list[tuple[str, tuple[str, int]]] | None) -> dict[str, tuple[str, int]]:
    """Each endpoint's instance type and count: as given with --instance, else as the
    account's listing has them (when a region is set), else none known."""
    if given or not listing_wanted():
        return dict(given or [])
    try:
        listing = list_endpoints()
    except ListingUnavailable as error:
        print(f"note: no instance costs: {error}", file=sys.stderr)
        return {}
    return listing.instances


def _dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.01 or not amount else "<$0.01"


_FORMATS = {"seconds": "{:,.1f}".format, "share": "{:.4%}".format, "hourly_price": _dollars, "cost": _dollars}


if __name__ == "__main__":
    sys.exit(main())
