"""Streamed text drawn in frames: each placeholder redrawn at most once a frame,
whatever the model's pace.  A redraw sends the whole text so far to the browser, and
with many sessions streaming at once, redrawing every answer at every token took the
app's one interpreter from the page runs that wait for it (bench/load.py)."""

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequestType

# Ten frames a second: smooth to read, and a third of the redraws at a GPU's 30 tokens/s.
FRAME_S = 0.1


K = TypeVar("K", bound=Hashable)


class Frames(Generic[K]):
    """Text added piece by piece to each ``K`` (an answer, a compared column), drawn by
    ``draw(key, text)``: a key's first text at once (its first token is not held back),
    then what came since, once a frame.  Text that comes inside a frame waits for the
    next piece after it, or ``flush``: call it when a stream ends."""

    def __init__(self, draw: Callable[[K, str], None]) -> None:
        self._draw = draw
        self.texts: dict[K, str] = {}
        self._waiting: dict[K, None] = {}  # keys with text not drawn yet, in order
        self._due = 0.0

    def add(self, key: K, piece: str) -> None:
        rerun_if_clicked()
        first = key not in self.texts
        self.texts[key] = self.texts.get(key, "") + piece
        self._waiting[key] = None
        if first:
            self.flush(key)
        elif time.monotonic() >= self._due:
            self.flush()

    def flush(self, key: K | None = None) -> None:
        """Draw what waits: ``key``'s only, given one, else every key's (a new frame)."""
        for waiting in [key] if key is not None else list(self._waiting):
            if self._waiting.pop(waiting, False) is None:
                self._draw(waiting, self.texts[waiting])
        if key is None:
            self._due = time.monotonic() + FRAME_S


def rerun_if_clicked() -> None:
    """Rerun the whole page now if a click waits, as a click does outside a fragment.
    A click on a button in a fragment (Stop, in the chat area) asks for a run of the
    fragment, which Streamlit starts only after the run in progress ends: it never cuts
    a run short for a fragment's run.  So a stream checks here, at each piece and while
    it waits, and the page's run that follows has the click (Streamlit keeps a clicked
    button's trigger when it merges the two requests).  Streamlit has no public way to
    see a waiting request: this reads its ``ScriptRequests``, pinned in requirements.txt."""
    context = get_script_run_ctx()
    requests = context.script_requests if context else None
    if requests is not None and requests._state == ScriptRequestType.RERUN:
        st.rerun()
