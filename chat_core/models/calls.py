"""Every call sent to a remote model is marked in the shared store (``CHAT_STORE``):
what each replica's auto-sleep (``scaling``) and the admins' page read as the model's
last call (``Store.last_calls``).  Marked from the one sagemaker-runtime client every
remote call goes through (``endpoint``); the bundled model's calls never are.

A process writes a model's mark at most once a ``MARK_EVERY_S``: a store write before
every call would put one more write in each answer's path (on DynamoDB a round trip
before the first token), while what reads the mark needs minutes: auto-sleep leaves a
model alone for the longest a call can take (at least 20 minutes) and this interval
after its mark, since a call sent within it is not marked."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time

from chat_core.conversations.backends import open_store
from chat_core.conversations.store import Store, StoreUnavailable

MARK_EVERY_S = 60.0
log = logging.getLogger(__name__)
# This process's last mark of each model, in each store.
_written: dict[tuple[str, str, str | None], float] = {}
_lock = threading.Lock()


def note_call(endpoint: str, component: str | None) -> None:
    """Mark that a call is sent to ``endpoint``'s ``component`` now.  A store that fails
    is logged, never the call's failure: the worst is that another replica's auto-sleep
    does not see this call."""
    at, url = time.time(), os.environ.get("CHAT_STORE", "")
    key = (url, endpoint, component)
    with _lock:
        if at - _written.get(key, -MARK_EVERY_S) < MARK_EVERY_S:
            return
        _written[key] = at
    try:
        _marks(url).mark_call(endpoint, component, at)
    except StoreUnavailable as error:
        with _lock:  # written by the next call
            _written.pop(key, None)
        log.warning("the call to %s/%s is not marked: %s", endpoint, component or "", error)


@functools.lru_cache(maxsize=4)
def _marks(url: str) -> Store:
    return open_store(url or None)
