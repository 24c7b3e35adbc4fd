"""The command line's commands (``python -m chat_core COMMAND``), one module each.

Each module has ``add(commands)``, which adds its parser to the subparsers and sets
``run``, the function given the parsed arguments that returns the exit status.
What more than one command needs is here.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from chat_core.conversations.backends import open_store
from chat_core.conversations.store import LOCAL_USER
from chat_core.errors import ChatError
from chat_core.usage.limits import Allowance
from chat_core.usage.records import Usage

Subparsers = argparse._SubParsersAction  # what ``add_subparsers`` returns; argparse does not name it publicly
Run = Callable[[argparse.Namespace], int]


def reading_input(run: Run) -> Run:
    """``run`` for a command that reads an input (a file, the store, the account): a bad
    input is one line on stderr and exit status 2, never a traceback."""

    @functools.wraps(run)
    def reported(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except OSError as error:
            print(f"error: cannot read {error.filename}: {error.strerror}", file=sys.stderr)
            return 2
        except ChatError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    return reported


def owner_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--owner", default=LOCAL_USER, help="whose (with login: ISSUER#SUBJECT; default %(default)s)"
    )


def record_local_usage(usage: Usage) -> None:
    """Record a summary's or an indexing's usage, as the app's are: in the store
    (``CHAT_STORE``), opened only then.  Given to ``usage.records.counted``, so that a
    store that cannot be opened or written never fails the command that made them."""
    open_store().record_usage(usage)


def local_allowance() -> Allowance:
    """The local user's limits (CHAT_LIMITS), counted in the store, as the app's are."""
    return Allowance(open_store, LOCAL_USER)
