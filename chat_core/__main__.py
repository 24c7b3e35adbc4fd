"""Command line: ``python -m chat_core endpoint | summarize FILE.pdf | ask FILE.pdf...
| feedback | create-table TABLE``."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from chat_core.conversations.dynamodb import create_table
from chat_core.conversations.feedback import preference_pairs, rated, to_jsonl
from chat_core.conversations.session import ChatSession, Settings
from chat_core.conversations.store import LOCAL_USER, open_store
from chat_core.documents.pdf import read_pdf
from chat_core.documents.summaries import DETAILS, summarize
from chat_core.documents.uploads import open_uploads, sha256
from chat_core.errors import ChatError
from chat_core.i18n import plural
from chat_core.local.endpoint import DEFAULT_ENDPOINTS, LocalEndpoint
from chat_core.local.server import EndpointServer
from chat_core.models.catalog import DEFAULT_MODEL, load_catalog
from chat_core.models.handlers import PAYLOADS
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.grounding import NO_SOURCE
from chat_core.retrieval.library import Library
from chat_core.retrieval.payloads import EMBEDDING_PAYLOADS
from chat_core.retrieval.search import TOP_K

FORMATS = [*PAYLOADS, *EMBEDDING_PAYLOADS]


def _endpoint_format(text: str) -> tuple[str, str]:
    name, sep, payload = text.partition("=")
    if not sep or not name or payload not in FORMATS:
        raise argparse.ArgumentTypeError(f"expected NAME=FORMAT with FORMAT one of {', '.join(FORMATS)}")
    return name, payload


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
    serve.add_argument("--latency", type=float, default=0, metavar="MS", help="added delay per call")
    serve.add_argument("--max-queue", type=int, default=16, help="requests allowed to wait before throttling")
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
    feedback.add_argument(
        "--owner", default=LOCAL_USER, help="whose (with login: ISSUER#SUBJECT; default %(default)s)"
    )
    table = commands.add_parser(
        "create-table", help="create the DynamoDB table for CHAT_STORE=dynamodb://TABLE"
    )
    table.add_argument("table")
    args = parser.parse_args(argv)

    # A bad input is one line on stderr and exit status 2, for every command that reads one.
    try:
        if args.command == "summarize":
            return _summarize(args.file, args.model, args.password, args.detail)
        if args.command == "ask":
            return _ask(args)
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

    endpoint = LocalEndpoint(
        dict(args.format) if args.format else None, latency_s=args.latency / 1000, max_queue=args.max_queue
    )
    server = EndpointServer(endpoint, args.port)
    print(f"Serving {', '.join(endpoint.endpoints)} on {server.url}", file=sys.stderr)
    print(f"  AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={server.url}", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


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


def _passages_done(done: int, total: int) -> None:
    print(f"embedded {done}/{total} passages", file=sys.stderr, flush=True)


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
        chat.documents.append(library.add(sha256(data), name, read, progress=_passages_done))
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


if __name__ == "__main__":
    sys.exit(main())
