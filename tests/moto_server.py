"""moto's DynamoDB server in a child process on 127.0.0.1, answering one request
at a time: moto's threaded server loses writes under concurrent requests
("dictionary changed size during iteration"), and in the tests' own process it
competes with them for the GIL.

    python tests/moto_server.py   # prints the port it listens on
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported by the server child, which starts faster without it
    import pytest


@contextmanager
def moto_server() -> Iterator[str]:
    child = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=10)


def use_moto(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point boto3 at the moto server ``url``, with placeholder keys that only let botocore sign."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


if __name__ == "__main__":
    import logging

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=False, request_handler=MotoRequestHandler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
