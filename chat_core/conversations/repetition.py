"""Noticing an answer caught in a loop: the same span, over and over, at its end.

A small model (the bundled 135M one above all) can fall into writing one phrase
until it reaches max new tokens: 257 times, once, for a Korean question about an
English document.  llama.cpp's repeat penalty would change every answer's
sampling, on the bundled model only; this check reads the streamed text, so it
works for every endpoint and leaves answers that do not loop untouched.  Written
here because no maintained library checks a growing string for a repeated tail.
"""

from __future__ import annotations

# A loop: the answer ends in one span repeated at least REPEATS times, which
# together cover at least MIN_CHARS (so "ha ha ha" or a short rule of dashes is no
# loop); spans up to MAX_SPAN characters, a long sentence, are looked for.
REPEATS = 10
MIN_CHARS = 200
MAX_SPAN = 300


class RepetitionGuard:
    """Fed an answer's text as it streams; says when its end has become a loop."""

    def __init__(self) -> None:
        self._tail = ""  # the end of the answer: as much as a loop of the longest span covers

    def looping(self, text: str) -> bool:
        """Add ``text`` to the answer; whether it now ends in a loop."""
        tail = self._tail = (self._tail + text)[-REPEATS * MAX_SPAN :]
        # A tail that repeats a span ends with its last character one span back too:
        # only those span lengths are tried, shortest first (found by str.rfind, in C).
        end = len(tail) - 1
        lowest = max(0, end - MAX_SPAN)
        back = tail.rfind(tail[-1:], lowest, end) if tail else -1
        while back != -1:
            span = end - back
            covered = max(REPEATS * span, MIN_CHARS)
            if covered > len(tail):
                return False
            # The last span against the one before it first: most lengths fail there, cheaply.
            if tail[-span:] == tail[-2 * span : -span] and tail[-covered + span :] == tail[-covered:-span]:
                return True
            back = tail.rfind(tail[-1], lowest, back)
        return False
