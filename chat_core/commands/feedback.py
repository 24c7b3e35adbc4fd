"""``feedback``: the rated answers (or, with ``--pairs``, the comparisons) in CHAT_STORE as JSON Lines."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from chat_core.commands import Subparsers, owner_option, reading_input
from chat_core.conversations.backends import open_store
from chat_core.conversations.feedback import preference_pairs, rated, to_jsonl


def add(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "feedback", help="print the rated answers in CHAT_STORE as JSON Lines (--pairs: comparisons)"
    )
    parser.add_argument(
        "--pairs", action="store_true", help="print the comparisons as preference pairs instead"
    )
    parser.add_argument(
        "--since", type=_since, default=0.0, metavar="DATE", help="rated (or chosen) on DATE or later, UTC"
    )
    owner_option(parser)
    parser.set_defaults(run=_exported)


def _since(text: str) -> float:
    """A date or time in ISO 8601 (UTC unless it says otherwise) as a timestamp."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError("expected a date such as 2025-06-01 or 2025-06-01T09:00") from error
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@reading_input
def _exported(args: argparse.Namespace) -> int:
    export = preference_pairs if args.pairs else rated
    sys.stdout.write(to_jsonl(export(open_store(), args.owner, args.since)))
    return 0
