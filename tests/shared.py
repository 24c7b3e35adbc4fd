"""What tests and bench/ share: the real PDFs, and the processes they run against
(the local endpoint server, the app itself, Debian's Chromium)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Real PDFs that nobody on this project wrote (their sources and licences: README.md there).
PDFS = ROOT / "tests" / "pdfs"
# Debian's chromium (apt-get install chromium): Playwright cannot download a browser here.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


@contextmanager
def endpoint_server_process(
    name: str | None,
    model: str = "smollm2",
    components: tuple[str, ...] = (),
    endpoints: tuple[str, ...] = (),
) -> Iterator[str]:
    """``python -m chat_core endpoint`` serving ``name`` (TGI payloads) and the ``endpoints``
    (each NAME=FORMAT), or with neither its default endpoints, and the inference ``components``
    (each ENDPOINT/COMPONENT=FORMAT), on a free port, in its own process as it is deployed,
    with ``model`` as ``LOCAL_MODEL``; yields its URL."""
    formats = ["--format", f"{name}=tgi"] if name else []
    formats += [option for endpoint in endpoints for option in ("--format", endpoint)]
    formats += [option for component in components for option in ("--component", component)]
    process = subprocess.Popen(
        [sys.executable, "-m", "chat_core", "endpoint", "--port", "0", *formats],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LOCAL_MODEL": model},
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def app_process(
    environment: dict[str, str], *options: str, port: int | None = None
) -> Iterator[tuple[str, int]]:
    """``streamlit run app.py`` as configured (on 127.0.0.1), with ``environment`` and
    command-line ``options`` added, on ``port`` or a free one; yields its URL and
    process id once it answers."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), *options],
        cwd=ROOT,
        env=os.environ | environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait()
