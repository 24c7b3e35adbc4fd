"""Counting prompt tokens, so history can be fitted into a model's context window.

The local model's own tokenizer counts exactly.  Remote endpoints' tokenizers
are not available offline, so their count is an estimate built to be an upper
bound: Llama 2's and Falcon's tokenizers fall back to one token per UTF-8 byte
for characters outside their vocabulary (most Hangul syllables, for Llama 2),
so a non-ASCII character is charged its byte count; ASCII letters are charged
as if a token held only two of them (German text takes SmolLM2 one token per
2.1 letters), and digits and symbols one each.  Measured with SmolLM2's
tokenizer on ../shared/pdfs: Korean 1.86 tokens per character (one per UTF-8
byte, 3 per Hangul syllable), English 0.23, German with maths 0.51; the
estimate is at or above every one of them and about 2x over for English.
"""

from __future__ import annotations

import functools

from chat_core.local import model as local_model
from chat_core.models.catalog import ModelSpec
from chat_core.models.prompts import Turn


def estimate_tokens(text: str) -> int:
    letters = spaces = other = 0
    for char in text:
        if char.isascii():
            if char.isalpha():
                letters += 1
            elif char == " ":
                spaces += 1
            else:
                other += 1
        else:
            other += len(char.encode("utf-8"))
    return -(-letters // 2) + -(-spaces // 4) + other


def count_tokens(spec: ModelSpec, text: str) -> int:
    return local_model.count_tokens(text) if spec.is_local else estimate_tokens(text)


@functools.lru_cache(maxsize=65536)
def turn_tokens(spec: ModelSpec, turn: Turn) -> int:
    """Tokens of one rendered past turn; cached, so a turn is counted once however
    many later prompts include it."""
    return count_tokens(spec, spec.prompt_format.render_turn(turn))
