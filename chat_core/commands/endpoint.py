"""``endpoint``: serve the bundled models behind the SageMaker runtime API on 127.0.0.1."""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys

from chat_core.commands import Subparsers
from chat_core.local.endpoint import (
    COLD_START_S,
    DEFAULT_ENDPOINTS,
    SERVERLESS_IDLE_S,
    WAKE_S,
    LocalEndpoint,
    chosen_model,
)
from chat_core.local.server import REQUEST_DEADLINE_S, EndpointServer
from chat_core.models.catalog import component_named
from chat_core.models.handlers import PAYLOADS
from chat_core.retrieval.payloads import EMBEDDING_PAYLOADS

FORMATS = [*PAYLOADS, *EMBEDDING_PAYLOADS]


def add(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "endpoint", help="serve the bundled models behind the SageMaker runtime API on 127.0.0.1"
    )
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--format",
        type=_endpoint_format,
        action="append",
        metavar="NAME=FORMAT",
        help=f"serve endpoint NAME in payload FORMAT: a chat format ({', '.join(PAYLOADS)}) for the "
        f"chat model, an embedding format ({', '.join(EMBEDDING_PAYLOADS)}) for the embedding model; "
        "repeatable. "
        f"Default: {', '.join(f'{n}={f}' for n, f in DEFAULT_ENDPOINTS.items())}",
    )
    parser.add_argument(
        "--component",
        type=_component_format,
        action="append",
        default=[],
        metavar="ENDPOINT/COMPONENT=FORMAT",
        help="serve inference component COMPONENT on endpoint ENDPOINT in payload FORMAT (as --format), "
        "called with InferenceComponentName; an endpoint hosts components or a model, not both; "
        "repeatable",
    )
    parser.add_argument(
        "--asleep",
        type=_component,
        action="append",
        default=[],
        metavar="ENDPOINT/COMPONENT",
        help="start the component with no copies: calls are refused for no capacity, as SageMaker "
        "refuses them, until UpdateInferenceComponentRuntimeConfig raises its copies; repeatable",
    )
    parser.add_argument(
        "--wake-seconds",
        type=_seconds,
        default=WAKE_S,
        metavar="S",
        help="seconds from a component's copies raised above 0 to the copy serving (default %(default)s); "
        "a lowering takes effect at once",
    )
    parser.add_argument(
        "--autoscale",
        action="store_true",
        help="a call refused for no capacity asks for one copy itself, as a team's scaling policy on "
        "the NoCapacityInvocationFailures alarm would",
    )
    parser.add_argument(
        "--serverless",
        type=_endpoint_format,
        action="append",
        default=[],
        metavar="NAME=FORMAT",
        help="serve NAME as a serverless endpoint (4096 MB, 5 calls at once, a 6th throttled) in payload "
        "FORMAT: the first call, and the first after --serverless-idle-seconds without one, starts a cold "
        "start; repeatable",
    )
    parser.add_argument(
        "--cold-start-seconds",
        type=_seconds,
        default=COLD_START_S,
        metavar="S",
        help="a serverless endpoint's cold start: calls during it are refused with ModelNotReadyException "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--serverless-idle-seconds",
        type=_seconds,
        default=SERVERLESS_IDLE_S,
        metavar="S",
        help="seconds without a call after which a serverless endpoint starts cold again "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--control-plane",
        metavar="URL",
        help="moto's server: the SageMaker control-plane calls this server does not answer itself (any but "
        "those about its inference components and the endpoints hosting them) go there unchanged; make "
        "the --serverless endpoints there (without it, this server describes them)",
    )
    parser.add_argument("--latency", type=float, default=0, metavar="MS", help="added delay per call")
    parser.add_argument(
        "--max-queue", type=int, default=16, help="requests allowed to wait before throttling"
    )
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="with LOCAL_MODEL=scripted, answer every request at once instead of one at a time, as a "
        "GPU endpoint that batches requests does (a stand-in for load tests)",
    )
    parser.add_argument(
        "--request-deadline",
        type=float,
        default=REQUEST_DEADLINE_S,
        metavar="S",
        help="seconds a client has to send a whole request from its first byte (default %(default)s)",
    )
    parser.set_defaults(run=functools.partial(_serve, parser))


def _endpoint_format(text: str) -> tuple[str, str]:
    name, sep, payload = text.partition("=")
    if not sep or not name or payload not in FORMATS:
        raise argparse.ArgumentTypeError(f"expected NAME=FORMAT with FORMAT one of {', '.join(FORMATS)}")
    return name, payload


def _component_format(text: str) -> tuple[str, str, str]:
    """ENDPOINT/COMPONENT=FORMAT."""
    name, payload = _endpoint_format(text)
    try:
        return (*_component(name), payload)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError("expected ENDPOINT/COMPONENT=FORMAT") from None


def _component(text: str) -> tuple[str, str]:
    """ENDPOINT/COMPONENT, read as the app reads it."""
    if (named := component_named(text)) is None:
        raise argparse.ArgumentTypeError("expected ENDPOINT/COMPONENT")
    return named


def _seconds(text: str) -> float:
    seconds = float(text)
    if not seconds >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError("expected a number of seconds, at least 0")
    return seconds


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Until interrupted; where it listens on stderr."""
    components: dict[str, dict[str, str]] = {}
    for name, component, payload in args.component:
        components.setdefault(name, {})[component] = payload
    try:
        endpoint = LocalEndpoint(
            dict(args.format) if args.format else None,
            components=components,
            latency_s=args.latency / 1000,
            max_queue=args.max_queue,
            complete=chosen_model(concurrent=True) if args.concurrent else None,
            asleep=args.asleep,
            wake_s=args.wake_seconds,
            autoscale=args.autoscale,
            serverless=dict(args.serverless),
            cold_start_s=args.cold_start_seconds,
            serverless_idle_s=args.serverless_idle_seconds,
        )
        server = EndpointServer(
            endpoint, args.port, request_deadline_s=args.request_deadline, control_plane=args.control_plane
        )
    except ValueError as error:  # an endpoint given twice or a model and components, a sleeper not served...
        parser.error(str(error))
    print(f"Serving {', '.join(endpoint.served)} on {server.url}", file=sys.stderr)
    print(f"  AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={server.url}", file=sys.stderr)
    if components or args.serverless or args.control_plane:
        print(
            f"  AWS_ENDPOINT_URL_SAGEMAKER={server.url}  (the control plane)",
            file=sys.stderr,
        )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0
