"""``make`` as a newcomer types it: ``make run PORT=8502`` serves the app on that port, and
``make run`` installs the app alone, while ``make test`` and ``make bench`` add the tools of
tests and bench/."""

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from shared import ROOT, app_environment, free_port

TOOLS = {"pytest", "ruff", "moto", "playwright", "matplotlib", "pypdfium2", "oidc-provider-mock"}


def installed_by(target: str) -> set[str]:
    """The packages the pip installs of ``make TARGET`` on a machine with no .venv name,
    following the requirement files' ``-r`` lines (``make -n`` prints, runs nothing)."""
    commands = subprocess.run(
        ["make", "-n", target, "VENV=/nonexistent-venv"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    files = re.findall(r"pip install .*-r (\S+)", commands)
    names: set[str] = set()
    while files:
        for line in (ROOT / files.pop()).read_text().splitlines():
            if line.startswith("-r "):
                files.append(line.split()[1])
            elif line and not line.startswith("#"):
                names.add(re.split(r"[\[=<>~ ]", line, maxsplit=1)[0].lower())
    return names


def test_make_run_installs_the_app_and_make_test_and_bench_add_their_tools() -> None:
    app = installed_by("run")
    assert {"streamlit", "boto3", "llama-cpp-python"} <= app
    assert not app & TOOLS
    assert installed_by("test") >= app | TOOLS
    assert installed_by("bench") >= app | TOOLS


def test_make_run_serves_the_app_on_the_port_given(tmp_path: Path) -> None:
    port = free_port()
    # -o: this .venv is taken as set up (make would reinstall it if requirements.txt were newer).
    make = ["make", "-o", ".venv/.installed", "run", f"PORT={port}"]
    environment = os.environ | app_environment(tmp_path)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    server = subprocess.Popen(make, cwd=ROOT, env=environment, start_new_session=True, **quiet)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as health:
                    assert health.read() == b"ok"
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"make run PORT={port}: nothing answered on port {port} within 60 s")
                time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # make and the streamlit it started
        server.wait()
