"""Command line: ``python -m chat_core endpoint | endpoints | summarize FILE.pdf | ask FILE.pdf...
| feedback | usage | create-table TABLE``; each command is a module of ``chat_core.commands``."""

from __future__ import annotations

import argparse
import sys

from chat_core.commands import ask, create_table, endpoint, endpoints, feedback, summarize, usage

# In the order ``--help`` lists them.
COMMANDS = (endpoint, endpoints, summarize, ask, feedback, create_table, usage)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_core")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
