"""The local endpoint server for benchmarks, and boto3 pointed at it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def endpoint_server_process(name: str) -> Iterator[str]:
    """``python -m chat_core endpoint`` serving ``name`` (TGI payloads) on a free port,
    in its own process as it is deployed; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "chat_core", "endpoint", "--port", "0", "--format", f"{name}=tgi"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr
        line = process.stderr.readline()  # "Serving NAME on URL"
        threading.Thread(target=process.stderr.read, daemon=True).start()  # its request log: drained
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait()


@contextmanager
def pointed_at(url: str) -> Iterator[None]:
    """boto3 pointed at the local server; the keys only let botocore sign."""
    values = {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
