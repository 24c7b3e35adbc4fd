"""The SQLite schema, as numbered migrations.

Each migration runs once, in order, inside one transaction with the bump of
``PRAGMA user_version``; a database made by an older version of the app is
brought up to date when it is opened.  Add a migration; never edit one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: conversations and their messages
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        model TEXT NOT NULL,
        mode TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX conversations_by_owner ON conversations (owner, updated_at DESC);
    CREATE TABLE messages (
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        text TEXT NOT NULL,
        created_at REAL NOT NULL,
        answers TEXT,
        stats TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (conversation_id, key)
    );
    """,
]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations ``db`` lacks; returns its schema version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits first; BEGIN makes the script and the version one transaction.
        db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    return len(MIGRATIONS)
