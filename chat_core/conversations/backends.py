"""The store ``CHAT_STORE`` names: SQLite on one machine, DynamoDB for several replicas.

Apart from ``store``, which defines what a store is and which both backends import.
"""

from __future__ import annotations

import os
from pathlib import Path

from chat_core.conversations.dynamodb import DynamoDBStore
from chat_core.conversations.sqlite import SQLiteStore
from chat_core.conversations.store import DATA_DIR, Store, StoreUnavailable


class UnknownStore(StoreUnavailable):
    en = "CHAT_STORE={url!r} is not a store this app knows: use sqlite:///path/to/chat.db or dynamodb://TABLE."
    ko = (
        "CHAT_STORE={url!r}는 이 앱이 아는 저장소가 아닙니다. "
        "sqlite:///경로/chat.db나 dynamodb://테이블을 쓰세요."
    )


def open_store(url: str | None = None) -> Store:
    """The store ``url`` (else ``CHAT_STORE``, else SQLite in ``DATA_DIR``) names."""
    url = url or os.environ.get("CHAT_STORE") or f"sqlite://{DATA_DIR / 'chat.db'}"
    if url.startswith("sqlite://"):
        return SQLiteStore(Path(url[len("sqlite://") :]))
    if url.startswith("dynamodb://"):
        return DynamoDBStore(url[len("dynamodb://") :])
    raise UnknownStore(url=url)
