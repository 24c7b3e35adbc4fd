"""moto's DynamoDB server in a child process on 127.0.0.1, answering one request
at a time: moto's threaded server loses writes under concurrent requests
("dictionary changed size during iteration"), and in the tests' own process it
competes with them for the GIL.  ``threaded`` answers requests at once, for the
load bench (one at a time, it would measure moto, not the app): reads together,
each DynamoDB write alone (``OneWriter``), which is what moto's tables survive.

    python tests/moto_server.py [--threaded]   # prints the port it listens on
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # not imported by the server child, which starts faster without it
    import pytest


@contextmanager
def moto_server(threaded: bool = False) -> Iterator[str]:
    command = [sys.executable, __file__, *(["--threaded"] if threaded else [])]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
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


class OneWriter:
    """A WSGI wrapper: DynamoDB writes one at a time with nothing else running, other
    requests together.  Written here because the standard library has no
    readers-writer lock, and moto's tables are plain dicts that a write changes
    while another request iterates them."""

    WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.readers = 0
        self.changed = threading.Condition()
        self.writing = threading.Lock()  # held by a writer, and by readers joining

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_") and target.endswith(self.WRITES):
            with self.writing, self.changed:
                self.changed.wait_for(lambda: self.readers == 0)
                return list(self.app(environ, start_response))
        with self.writing, self.changed:
            self.readers += 1
        try:
            return list(self.app(environ, start_response))
        finally:
            with self.changed:
                self.readers -= 1
                self.changed.notify_all()


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
    threaded = "--threaded" in sys.argv
    server = make_server(
        "127.0.0.1",
        0,
        OneWriter(app) if threaded else app,
        threaded=threaded,
        request_handler=MotoRequestHandler,
    )
    print(server.server_address[1], flush=True)
    server.serve_forever()
