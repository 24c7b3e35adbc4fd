"""The SQLite schema, as numbered migrations.

Each migration runs once, in order, inside one transaction with the bump of
``PRAGMA user_version``; a database made by an older version of the app is
brought up to date when it is opened.  Add a migration; never edit one.
"""

from __future__ import annotations

import sqlite3

# Each migration is its statements, run one by one: ``executescript`` would commit
# the transaction that makes reading the version and migrating one step.
MIGRATIONS: list[tuple[str, ...]] = [
    (  # 1: conversations and their messages
        """
        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            title TEXT NOT NULL,
            model TEXT NOT NULL,
            mode TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
        "CREATE INDEX conversations_by_owner ON conversations (owner, updated_at DESC)",
        """
        CREATE TABLE messages (
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            text TEXT NOT NULL,
            created_at REAL NOT NULL,
            answers TEXT,
            stats TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (conversation_id, key)
        )
        """,
    ),
    (  # 2: usage, one record per generated answer (usage/records.py); no foreign key to
        # the conversation, so deleting it keeps its usage
        """
        CREATE TABLE usage (
            owner TEXT NOT NULL,
            key TEXT NOT NULL,
            at REAL NOT NULL,
            model TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            seconds REAL NOT NULL,
            component TEXT,
            candidate INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (owner, key)
        )
        """,
        "CREATE INDEX usage_by_time ON usage (at)",
    ),
    (  # 3: the user's feedback on an answer, the one thing changed in place (store.py)
        "ALTER TABLE messages ADD COLUMN rating TEXT CHECK (rating IN ('up', 'down'))",
        "ALTER TABLE messages ADD COLUMN comment TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE messages ADD COLUMN rated_at REAL",
    ),
    (  # 4: each user's preferences, one JSON object (store.py's set_preferences)
        "CREATE TABLE preferences (owner TEXT PRIMARY KEY, preferences TEXT NOT NULL)",
    ),
    (  # 5: summaries and indexing recorded as usage of their own kinds (usage/records.py)
        "ALTER TABLE usage ADD COLUMN kind TEXT NOT NULL DEFAULT 'answer'",
        "ALTER TABLE usage ADD COLUMN calls INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE usage ADD COLUMN pages INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE usage ADD COLUMN passages INTEGER NOT NULL DEFAULT 0",
    ),
    (  # 6: per-user limits (usage/limits.py): what each window holds, until when it is
        # kept, and the reservations not yet settled, each with its charges (JSON)
        """
        CREATE TABLE limit_counters (
            owner TEXT NOT NULL,
            counter TEXT NOT NULL,
            held INTEGER NOT NULL,
            until REAL NOT NULL,
            PRIMARY KEY (owner, counter)
        )
        """,
        """
        CREATE TABLE limit_holds (
            owner TEXT NOT NULL,
            key TEXT NOT NULL,
            expires REAL NOT NULL,
            charges TEXT NOT NULL,
            PRIMARY KEY (owner, key)
        )
        """,
    ),
    (
        # The last model call sent to each remote model (component '' for an endpoint's
        # own model), which every replica's auto-sleep and the admins' page read.
        """
        CREATE TABLE model_calls (
            endpoint TEXT NOT NULL,
            component TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (endpoint, component)
        )
        """,
    ),
]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations ``db`` lacks; returns its schema version.

    The version is read under the write lock (``BEGIN IMMEDIATE``), so processes
    opening a new database at once migrate it once: the others wait, then find
    it up to date."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in statements:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)
