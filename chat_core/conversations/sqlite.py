"""Conversations in one SQLite file (WAL mode), for one machine.

One connection per store, used under a lock, so any number of threads (browser
sessions) share it; other processes on the same file wait for its write lock
(``timeout``), which is how two app processes see the same conversations.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chat_core.conversations.migrations import migrate
from chat_core.conversations.store import (
    AppendOnlyMessages,
    Conversation,
    Message,
    StoreUnavailable,
    in_order,
    next_key,
    not_found,
    now,
)

_CONVERSATION = "id, owner, title, model, mode, created_at, updated_at"


class SQLiteStore(AppendOnlyMessages):
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode = WAL")
            # No fsync per commit (WAL's recommended setting): a turn costs 0.1 ms, not 0.6;
            # a power cut may lose the last turns, never the file's integrity.
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            migrate(self._db)
        except (OSError, sqlite3.Error) as error:
            raise StoreUnavailable(
                f"Cannot open the conversation store {path}: {error}. Set CHAT_STORE to a "
                "writable sqlite:///path/to/chat.db (or move the file away if it is not a database).",
                ko=f"대화 저장소 {path}를 열 수 없습니다: {error}. CHAT_STORE를 쓰기 가능한 "
                "sqlite:///경로/chat.db로 설정하세요(데이터베이스가 아닌 파일이면 옮기세요).",
            ) from error
        self._lock = threading.Lock()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                raise StoreUnavailable(
                    f"Could not save to {self.path}: {error}.",
                    ko=f"{self.path}에 저장하지 못했습니다: {error}.",
                ) from error

    def _read(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def create(self, owner: str, title: str, model: str, mode: str) -> Conversation:
        conversation = Conversation(uuid.uuid4().hex, owner, title, model, mode, now(), now())
        with self._write() as db:
            db.execute(
                f"INSERT INTO conversations ({_CONVERSATION}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation.id,
                    owner,
                    title,
                    model,
                    mode,
                    conversation.created_at,
                    conversation.updated_at,
                ),
            )
        return conversation

    def conversations(self, owner: str) -> list[Conversation]:
        rows = self._read(
            f"SELECT {_CONVERSATION} FROM conversations WHERE owner = ? ORDER BY updated_at DESC", owner
        )
        return [Conversation(*row) for row in rows]

    def get(self, owner: str, conversation_id: str) -> Conversation:
        rows = self._read(
            f"SELECT {_CONVERSATION} FROM conversations WHERE id = ? AND owner = ?", conversation_id, owner
        )
        if not rows:
            raise not_found(conversation_id)
        return Conversation(*rows[0])

    def messages(self, owner: str, conversation_id: str) -> list[Message]:
        self.get(owner, conversation_id)
        rows = self._read(
            "SELECT key, role, text, created_at, answers, stats FROM messages WHERE conversation_id = ?",
            conversation_id,
        )
        return in_order(
            [
                Message(key, role, text, at, answers, json.loads(stats))
                for key, role, text, at, answers, stats in rows
            ]
        )

    def _append(self, owner: str, conversation_id: str, role: str, text: str, **extra: Any) -> str:
        key = next_key()
        with self._write() as db:
            if not db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ? AND owner = ?",
                (now(), conversation_id, owner),
            ).rowcount:
                raise not_found(conversation_id)
            db.execute(
                "INSERT INTO messages (conversation_id, key, role, text, created_at, answers, stats) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    key,
                    role,
                    text,
                    now(),
                    extra.get("answers"),
                    json.dumps(extra.get("stats", {})),
                ),
            )
        return key

    def rename(self, owner: str, conversation_id: str, title: str) -> None:
        with self._write() as db:
            if not db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND owner = ?",
                (title, conversation_id, owner),
            ).rowcount:
                raise not_found(conversation_id)

    def delete(self, owner: str, conversation_id: str) -> None:
        with self._write() as db:
            if not db.execute(
                "DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner)
            ).rowcount:
                raise not_found(conversation_id)

    def delete_all(self, owner: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM conversations WHERE owner = ?", (owner,))
