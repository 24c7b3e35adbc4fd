"""``create-table TABLE``: the DynamoDB table for CHAT_STORE=dynamodb://TABLE."""

from __future__ import annotations

import argparse
import sys

from chat_core.commands import Subparsers
from chat_core.conversations.dynamodb import create_table


def add(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "create-table", help="create the DynamoDB table for CHAT_STORE=dynamodb://TABLE"
    )
    parser.add_argument("table")
    parser.set_defaults(run=_created)


def _created(args: argparse.Namespace) -> int:
    create_table(args.table)
    print(f"Created DynamoDB table {args.table}; set CHAT_STORE=dynamodb://{args.table}", file=sys.stderr)
    return 0
