"""The bundled models as the model path reaches them: registered, not imported.

``chat_core.local`` serves the catalog's payload formats, so it imports
``chat_core.models``, which cannot import it back.  ``chat_core.local.runtime``
registers here, when it is imported, the two things the model path needs of the
bundled models: a sagemaker-runtime client that answers their endpoints in this
process, and the bundled chat model's token count.  What asks models questions
imports it (``conversations.session``, ``documents.summaries``, ``retrieval.embeddings``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bundled:
    client: Callable[[], Any]  # a new client answering the bundled endpoints in process
    count_tokens: Callable[[str], int]  # exact tokens of a prompt's text for the bundled chat model


_registered: list[Bundled] = []


def register(bundled: Bundled) -> None:
    _registered[:] = [bundled]


def bundled() -> Bundled:
    if not _registered:
        raise RuntimeError("the bundled models are not registered: import chat_core.local.runtime")
    return _registered[0]
