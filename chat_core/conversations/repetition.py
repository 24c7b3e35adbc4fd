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
        for span in range(1, MAX_SPAN + 1):
            covered = max(REPEATS * span, MIN_CHARS)
            if covered > len(tail):
                return False
            # A tail that repeats a span of this length ends with its last character
            # one span back too: a cheap test that rules out most lengths.
            if tail[-1] == tail[-1 - span] and tail[-covered + span :] == tail[-covered:-span]:
                return True
        return False
