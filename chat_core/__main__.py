"""Command line: ``python -m chat_core endpoint ...`` and ``... create-table TABLE``."""

from __future__ import annotations

import argparse
import contextlib
import sys

from chat_core.dynamodb_store import create_table
from chat_core.endpoint_server import EndpointServer
from chat_core.local_endpoint import DEFAULT_ENDPOINTS, PAYLOAD_FORMATS, LocalEndpoint


def _endpoint_format(text: str) -> tuple[str, str]:
    name, sep, payload = text.partition("=")
    if not sep or not name or payload not in PAYLOAD_FORMATS:
        raise argparse.ArgumentTypeError(
            f"expected NAME=FORMAT with FORMAT one of {', '.join(PAYLOAD_FORMATS)}"
        )
    return name, payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_core")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "endpoint", help="serve the bundled model behind the SageMaker runtime API on 127.0.0.1"
    )
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--format",
        type=_endpoint_format,
        action="append",
        metavar="NAME=FORMAT",
        help=f"serve endpoint NAME in payload FORMAT ({', '.join(PAYLOAD_FORMATS)}); repeatable. "
        f"Default: {', '.join(f'{n}={f}' for n, f in DEFAULT_ENDPOINTS.items())}",
    )
    serve.add_argument("--latency", type=float, default=0, metavar="MS", help="added delay per call")
    serve.add_argument("--max-queue", type=int, default=16, help="requests allowed to wait before throttling")
    table = commands.add_parser(
        "create-table", help="create the DynamoDB table for CHAT_STORE=dynamodb://TABLE"
    )
    table.add_argument("table")
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
