"""Every call sent to a remote model is marked in the shared store (``CHAT_STORE``):
what each replica's auto-sleep (``scaling``) and the admins' page read as the model's
last call (``Store.last_calls``).  Marked from the one sagemaker-runtime client every
remote call goes through (``endpoint``); the bundled model's calls never are."""

from __future__ import annotations

import functools
import logging
import os
import time

from chat_core.conversations.backends import open_store
from chat_core.conversations.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


def note_call(endpoint: str, component: str | None) -> None:
    """Mark that a call is sent to ``endpoint``'s ``component`` now.  A store that fails
    is logged, never the call's failure: the worst is that another replica's auto-sleep
    does not see this call."""
    try:
        _marks(os.environ.get("CHAT_STORE", "")).mark_call(endpoint, component, time.time())
    except StoreUnavailable as error:
        log.warning("the call to %s/%s is not marked: %s", endpoint, component or "", error)


@functools.lru_cache(maxsize=4)
def _marks(url: str) -> Store:
    return open_store(url or None)
