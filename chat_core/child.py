"""Work done in a child process, never in the app's: reading a PDF, indexing a document.

A child is a new interpreter (``python -m MODULE FD``), not a fork of the app
with its threads and memory.  It gets its task pickled on standard input and
sends its results, one message at a time, over a pipe the parent reads; only a
process can be stopped at any point (a deadline, a user's Stop), given a memory
ceiling or a lower priority.  The module's ``__main__`` calls ``serve`` with its work.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


def start(module: str, task: Any, *, nice: int = 0) -> tuple[subprocess.Popen[bytes], Connection]:
    """A child running ``module`` on ``task``, ``nice`` steps below the app's
    priority, and the connection its messages arrive on; the caller kills it
    (``stop``) when done."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    child = subprocess.Popen(
        [sys.executable, "-m", module, str(sending.fileno())],
        stdin=subprocess.PIPE,
        pass_fds=[sending.fileno()],
    )
    sending.close()
    if nice:  # lowered here, as it starts: its imports (seconds of CPU time) already yield to the app
        own = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, child.pid, min(19, own + nice))
    with contextlib.suppress(BrokenPipeError), child.stdin as stdin:  # type: ignore[union-attr]
        pickle.dump(task, stdin)
    return child, receiving


def stop(child: subprocess.Popen[bytes], connection: Connection) -> None:
    child.kill()
    child.wait()
    connection.close()


def serve(work: Callable[[Any, Connection], None]) -> None:
    """In the child: ``work(task, connection)``."""
    work(pickle.load(sys.stdin.buffer), Connection(int(sys.argv[1]), readable=False))
