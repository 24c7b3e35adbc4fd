"""``usage``: questions, tokens, generation seconds and cost per model (and per user), from CHAT_STORE."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import UTC, date, datetime

from chat_core.commands import Subparsers, owner_option, reading_input
from chat_core.conversations.backends import open_store
from chat_core.models.discovery import ListingUnavailable, list_endpoints, listing_wanted
from chat_core.usage.prices import instance_prices
from chat_core.usage.report import period_since, report


def add(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "usage", help="questions, tokens, generation seconds and cost per model, from CHAT_STORE"
    )
    parser.add_argument(
        "--since",
        type=date.fromisoformat,
        metavar="DATE",
        help="the period's first day, YYYY-MM-DD in UTC (default: the first of this month)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="every user's usage, per user (the command line reads the store with the operator's "
        "own access); default: --owner's",
    )
    owner_option(parser)
    parser.add_argument(
        "--instance",
        type=_instances,
        action="append",
        metavar="ENDPOINT=TYPE:COUNT",
        help="the instances serving an endpoint, for its cost (e.g. my-llama=ml.g5.2xlarge:1); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(run=_reported)


def _instances(text: str) -> tuple[str, tuple[str, int]]:
    name, _, serving = text.partition("=")
    instance_type, _, count = serving.partition(":")
    if not name or not instance_type.startswith("ml.") or not count.isdigit() or not int(count):
        raise argparse.ArgumentTypeError("expected ENDPOINT=TYPE:COUNT, such as my-llama=ml.g5.2xlarge:1")
    return name, (instance_type, int(count))


@reading_input
def _reported(args: argparse.Namespace) -> int:
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
