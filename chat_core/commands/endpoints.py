"""``endpoints``: the region's InService SageMaker endpoints and the payload format of
each; with ``--scale``, an admin sets an inference component's copies (0: asleep)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from chat_core.commands import Subparsers, owner_option, reading_input
from chat_core.i18n import plural
from chat_core.models.discovery import AccountEndpoint, Detection, list_endpoints
from chat_core.models.scaling import scale, scale_target


def add(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "endpoints", help="list the region's InService SageMaker endpoints and the payload format of each"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of objects")
    parser.add_argument(
        "--scale",
        metavar="ENDPOINT/COMPONENT=N",
        help="ask for N copies of an inference component (0 puts it to sleep, 1 wakes it); "
        "for admins (CHAT_ADMINS), checked against --owner",
    )
    owner_option(parser)
    parser.set_defaults(run=_listed)


@reading_input
def _listed(args: argparse.Namespace) -> int:
    """One line per endpoint (its components indented under it) or, with ``--json``,
    a list of objects; why components are missing, if they are, on stderr.  With
    ``--scale``, the copies asked for instead."""
    if args.scale:
        endpoint, component, copies = scale_target(args.scale)
        scale(args.owner, endpoint, component, copies)
        print(f"Asked for {plural(copies, 'copy', 'copies')} of {endpoint}/{component}.")
        return 0
    listing = list_endpoints()
    if listing.notice:
        print(listing.notice.en, file=sys.stderr)
    if args.json:
        print(json.dumps([_fields(endpoint) for endpoint in listing.endpoints], ensure_ascii=False))
        return 0
    rows = []
    for endpoint in listing.endpoints:
        rows.append((endpoint.name, endpoint.status, *_found(endpoint.detection), endpoint.instances))
        for part in endpoint.components:
            copies = plural(part.copies, "copy", "copies")
            copies += f" (asked for {part.desired})" if part.desired != part.copies else ""
            rows.append(("  " + part.name, part.status, *_found(part.detection), copies))
    widths = [max(len(row[column]) for row in rows) for column in range(4)] if rows else []
    for row in rows:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]))
    if not rows:
        print("No InService endpoints in this region.", file=sys.stderr)
    return 0


def _found(detection: Detection) -> tuple[str, str]:
    return detection.format or "-", detection.detected_by


def _fields(endpoint: AccountEndpoint) -> dict:
    return {
        "name": endpoint.name,
        "status": endpoint.status,
        "format": endpoint.detection.format,
        "detected_by": endpoint.detection.detected_by,
        "instance_type": endpoint.instance_type,
        "instance_count": endpoint.instance_count,
        "serverless": asdict(endpoint.serverless) if endpoint.serverless else None,
        "components": [
            {
                "name": part.name,
                "status": part.status,
                "format": part.detection.format,
                "detected_by": part.detection.detected_by,
                "copies": part.copies,
                "desired_copies": part.desired,
            }
            for part in endpoint.components
        ],
    }
