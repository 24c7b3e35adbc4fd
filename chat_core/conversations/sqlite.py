"""Conversations in one SQLite file (WAL mode), for one machine.

One connection per store, used under a lock, so any number of threads (browser
sessions) share it; other processes on the same file wait for its write lock
(``timeout``), which is how two app processes see the same conversations.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple
from pathlib import Path
from typing import Any

from chat_core import i18n
from chat_core.conversations.migrations import migrate
from chat_core.conversations.store import (
    AppendOnlyMessages,
    Conversation,
    Feedback,
    Hold,
    Message,
    backend_errors,
    in_order,
    next_key,
    not_found,
    now,
    title_for,
)
from chat_core.i18n import Text
from chat_core.usage.records import Usage, usage_of

_CONVERSATION = "id, owner, title, model, mode, created_at, updated_at"
# In the order of usage.records.Usage's fields.
_USAGE = (
    "owner, key, at, model, endpoint, input_tokens, output_tokens, seconds, component, candidate, "
    "kind, calls, pages, passages"
)


TIMEOUT = 30  # seconds a write waits for another process's

WHERE = i18n.Message("at {path}", "{path}")
# What went wrong with the file (SQLite's words), and what the operator can do about it.
HINT = i18n.Message("{error}; {advice}", "{error}. {advice}")
LOCKED = i18n.Message(
    "another process has kept it locked for {seconds} s; try again in a moment",
    "다른 프로세스가 {seconds}초 동안 잠그고 있습니다. 잠시 뒤 다시 시도하세요",
)
DAMAGED = i18n.Message(
    "move the file away (the app starts a new one) or restore a copy",
    "파일을 옮기거나(앱이 새로 만듭니다) 사본을 복원하세요",
)
FULL = i18n.Message("free some disk space", "디스크 공간을 비우세요")
UNWRITABLE = i18n.Message(
    "set CHAT_STORE to a writable sqlite:///path/to/chat.db",
    "CHAT_STORE를 쓰기 가능한 sqlite:///경로/chat.db로 설정하세요",
)


@backend_errors(sqlite3.Error, OSError)
class SQLiteStore(AppendOnlyMessages):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = WHERE.format(path=path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=TIMEOUT, check_same_thread=False, isolation_level=None)
        migrate(self._db)
        _use_wal(self._db)
        # WAL's recommended setting: a crash of the app loses nothing; a power cut or an
        # OS crash may lose the last turns saved, never the database.  FULL (an fsync per
        # commit) doubles a turn's overhead here (0.9 ms against 0.4 at 10,000 turns,
        # bench/turn_overhead.py), and costs more on network disks; teams who need every
        # turn to survive a power cut run on DynamoDB.
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._lock = threading.Lock()

    def hint(self, error: Exception) -> Text:
        """What went wrong with the file, and what the operator can do about it."""
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary result code
        if code == sqlite3.SQLITE_BUSY:
            advice = LOCKED.format(seconds=TIMEOUT)
        elif code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            advice = DAMAGED.format()
        elif code == sqlite3.SQLITE_FULL:
            advice = FULL.format()
        else:
            advice = UNWRITABLE.format()
        return HINT.format(error=str(error), advice=advice)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # not when SQLite has rolled it back itself
                    self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def create(self, owner: str, title: str, model: str, mode: str) -> Conversation:
        conversation = Conversation(uuid.uuid4().hex, owner, title_for(title), model, mode, now(), now())
        with self._write() as db:
            db.execute(
                f"INSERT INTO conversations ({_CONVERSATION}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation.id,
                    owner,
                    conversation.title,
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
            raise not_found()
        return Conversation(*rows[0])

    def messages(self, owner: str, conversation_id: str) -> list[Message]:
        self.get(owner, conversation_id)
        rows = self._read(
            "SELECT key, role, text, created_at, answers, stats, rating, comment, rated_at "
            "FROM messages WHERE conversation_id = ?",
            conversation_id,
        )
        return in_order(
            [
                Message(
                    key,
                    role,
                    text,
                    at,
                    answers,
                    json.loads(stats),
                    feedback=Feedback(rating, comment, rated_at) if rated_at is not None else None,
                )
                for key, role, text, at, answers, stats, rating, comment, rated_at in rows
            ]
        )

    def _append(self, owner: str, conversation_id: str, role: str, text: str, **extra: Any) -> str:
        key, at = next_key(), now()
        stats = extra.get("stats", {})
        usage = usage_of(owner, key, at, stats) if role == "assistant" else None
        with self._write() as db:
            if not db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ? AND owner = ?",
                (now(), conversation_id, owner),
            ).rowcount:
                raise not_found()
            db.execute(
                "INSERT INTO messages (conversation_id, key, role, text, created_at, answers, stats) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    key,
                    role,
                    text,
                    at,
                    extra.get("answers"),
                    json.dumps(stats),
                ),
            )
            if usage:
                _insert_usage(db, usage)
        return key

    def _record(self, usage: Usage) -> None:
        with self._write() as db:
            _insert_usage(db, usage)

    def _annotate(self, owner: str, conversation_id: str, answer_key: str, feedback: Feedback | None) -> None:
        rating, comment, at = astuple(feedback) if feedback else (None, "", None)
        with self._write() as db:
            if not db.execute(
                "UPDATE messages SET rating = ?, comment = ?, rated_at = ? "
                "WHERE conversation_id = ? AND key = ? AND role = 'assistant' "
                "AND EXISTS (SELECT 1 FROM conversations WHERE id = ? AND owner = ?)",
                (rating, comment, at, conversation_id, answer_key, conversation_id, owner),
            ).rowcount:
                raise not_found()

    def rename(self, owner: str, conversation_id: str, title: str) -> None:
        with self._write() as db:
            if not db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND owner = ?",
                (title_for(title), conversation_id, owner),
            ).rowcount:
                raise not_found()

    def delete(self, owner: str, conversation_id: str) -> None:
        with self._write() as db:
            if not db.execute(
                "DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner)
            ).rowcount:
                raise not_found()

    def delete_all(self, owner: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM conversations WHERE owner = ?", (owner,))

    def preferences(self, owner: str) -> dict[str, Any]:
        rows = self._read("SELECT preferences FROM preferences WHERE owner = ?", owner)
        return json.loads(rows[0][0]) if rows else {}

    def set_preferences(self, owner: str, preferences: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO preferences (owner, preferences) VALUES (?, ?)",
                (owner, json.dumps(preferences)),
            )

    def usage(self, since: float, until: float, owner: str | None) -> list[Usage]:
        where = "at BETWEEN ? AND ?" + (" AND owner = ?" if owner is not None else "")
        rows = self._read(
            f"SELECT {_USAGE} FROM usage WHERE {where} ORDER BY key",
            since,
            until,
            *([owner] if owner is not None else []),
        )
        return [Usage(*row[:9], bool(row[9]), *row[10:]) for row in rows]

    def reserve(self, owner: str, hold: Hold) -> str | None:
        # One BEGIN IMMEDIATE transaction: no other connection, in this process or
        # another, can write between the check and the reservation.
        with self._write() as db:
            expired = db.execute(
                "DELETE FROM limit_holds WHERE owner = ? AND expires < ? RETURNING charges", (owner, now())
            ).fetchall()
            for (charges,) in expired:
                _add(db, owner, {counter: -amount for counter, amount in json.loads(charges).items()})
            db.execute("DELETE FROM limit_counters WHERE owner = ? AND until < ?", (owner, now()))
            for charge in hold.charges:
                if _held(db, owner, charge.counter) >= charge.below:
                    return charge.counter
            _add(db, owner, {charge.counter: charge.amount for charge in hold.charges}, hold)
            charges = json.dumps({charge.counter: charge.amount for charge in hold.charges})
            db.execute(
                "INSERT INTO limit_holds (owner, key, expires, charges) VALUES (?, ?, ?, ?)",
                (owner, hold.key, hold.expires, charges),
            )
        return None

    def settle(self, owner: str, hold: Hold, used: dict[str, int]) -> None:
        with self._write() as db:
            kept = db.execute(
                "DELETE FROM limit_holds WHERE owner = ? AND key = ?", (owner, hold.key)
            ).rowcount
            reserved = {charge.counter: charge.amount for charge in hold.charges} if kept else {}
            corrections = {counter: amount - reserved.get(counter, 0) for counter, amount in used.items()}
            _add(db, owner, corrections, hold)

    def counters(self, owner: str, names: list[str]) -> dict[str, int]:
        listed = ", ".join("?" * len(names))
        rows = self._read(
            f"SELECT counter, held FROM limit_counters WHERE owner = ? AND counter IN ({listed})",
            owner,
            *names,
        )
        return dict(rows)

    def mark_call(self, endpoint: str, component: str | None, at: float) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO model_calls (endpoint, component, at) VALUES (?, ?, ?) "
                "ON CONFLICT (endpoint, component) DO UPDATE SET at = max(at, excluded.at)",
                (endpoint, component or "", at),
            )

    def last_calls(self) -> dict[tuple[str, str | None], float]:
        rows = self._read("SELECT endpoint, component, at FROM model_calls")
        return {(endpoint, component or None): at for endpoint, component, at in rows}


def _held(db: sqlite3.Connection, owner: str, counter: str) -> int:
    row = db.execute(
        "SELECT held FROM limit_counters WHERE owner = ? AND counter = ?", (owner, counter)
    ).fetchone()
    return row[0] if row else 0


def _add(db: sqlite3.Connection, owner: str, amounts: dict[str, int], hold: Hold | None = None) -> None:
    """Add ``amounts`` to the owner's counters; one not there yet is made, kept until its
    charge in ``hold`` says (a counter given back to is there: its hold keeps it)."""
    until = {charge.counter: charge.until for charge in hold.charges} if hold else {}
    db.executemany(
        "INSERT INTO limit_counters (owner, counter, held, until) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (owner, counter) DO UPDATE SET held = held + excluded.held",
        [(owner, counter, amount, until.get(counter, 0.0)) for counter, amount in amounts.items()],
    )


def _insert_usage(db: sqlite3.Connection, usage: Usage) -> None:
    # Its fields are plain values: ``astuple``'s deep copy of each cost 35 us an answer.
    row = tuple(vars(usage).values())
    db.execute(f"INSERT INTO usage ({_USAGE}) VALUES ({', '.join('?' * len(row))})", row)


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode (which it keeps).  Processes switching a new file at
    once may be refused at once rather than made to wait (SQLite's deadlock
    avoidance skips the busy timeout), so the switch is tried again for as long."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
