"""``ask FILE.pdf... --question Q``: an answer from PDFs, citing the pages it comes from."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from chat_core.commands import Subparsers, local_allowance, reading_input, record_local_usage
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import LOCAL_USER
from chat_core.documents.pdf import read_pdf
from chat_core.documents.uploads import open_uploads, sha256
from chat_core.models.catalog import DEFAULT_MODEL, load_catalog
from chat_core.retrieval.citations import NOT_ANSWERED, checked, declined, marked
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.indexing import IndexProgress
from chat_core.retrieval.library import Library
from chat_core.retrieval.search import TOP_K


def add(commands: Subparsers) -> None:
    parser = commands.add_parser("ask", help="answer a question from PDFs, citing the pages it comes from")
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE.pdf")
    parser.add_argument("--question", required=True)
    parser.add_argument("--top-k", type=int, default=TOP_K, help="passages to find (default %(default)s)")
    parser.add_argument("--no-answer", action="store_true", help="find the passages without asking the model")
    parser.add_argument(
        "--json", action="store_true", help='print {"answer": ..., "sources": [...], "citations": [...], ...}'
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=list(load_catalog()))
    parser.set_defaults(run=_answered)


@reading_input
def _answered(args: argparse.Namespace) -> int:
    """Answer and sources on stdout (one JSON object with ``--json``, its citations
    checked against the sources), indexing progress on stderr.
    Indexes are kept in the upload store, and counted in usage, as the app's are for the local user."""
    spec = load_catalog()[args.model]
    allowance = local_allowance()
    library = Library(open_uploads().for_owner(LOCAL_USER), embedder(), record_local_usage, allowance)
    chat = ChatSession(library=library, allowance=allowance)
    for file in args.files:
        data = file.read_bytes()
        name = str(file)  # cited as the user named it
        read = functools.partial(_pages, data, name)  # only when not indexed before
        chat.documents.append(library.add(sha256(data), name, read, progress=_indexing()))
    if notice := library.notice(chat.documents):
        print(notice.en, file=sys.stderr)
    absent = chat.absent(args.question)
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
        cited = [citation.listed() for citation in checked(answer or "", sources)]
        answers = bool(sources) and not declined(answer or "")  # no passage found, or the model said so
        why = chat.no_source(args.question, args.top_k) if not sources else NOT_ANSWERED
        notice = None if answers else why.en
        verdict = {"documents_answer": answers, "notice": notice, "absent": absent}
        listed = {"answer": answer, "sources": found, "citations": cited} | verdict
        print(json.dumps(listed, ensure_ascii=False))
        return 0
    if answer is not None:
        print(marked(answer, sources, "en", markdown=False).strip(), end="\n\n")
    if not sources:
        print(chat.no_source(args.question, args.top_k).en)
    for number, source in enumerate(found, start=1):
        print(f"{number}. [{source['file']} p. {source['page']}] (score {source['score']:.3f})")
        print("   " + " ".join(source["text"].split())[:300])
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
