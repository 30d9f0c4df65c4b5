"""Opening the state file: its schema, migrations, and the checks that refuse a file that
cannot be trusted or written, with one line that names the file and says what to do."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

log = logging.getLogger("daylight.state")
SCHEMA_VERSION = 1
MOVE_AWAY = "move it away to start a new ledger"

# Each migration takes the database from version N-1 to N.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE app_deployments (id TEXT PRIMARY KEY, environment TEXT, namespace TEXT,"
        " app TEXT, started_at REAL, finished_at REAL, data TEXT NOT NULL)",
        "CREATE INDEX app_deployments_finished ON app_deployments (finished_at)",
        "CREATE TABLE failures (environment TEXT, namespace TEXT, app TEXT, data TEXT NOT NULL,"
        " PRIMARY KEY (environment, namespace, app))",
        "CREATE TABLE changes (received_at REAL, data TEXT NOT NULL)",
        "CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, environment TEXT, namespace TEXT,"
        " app TEXT)",
    ),
}

# The columns of each table at SCHEMA_VERSION, in order (the writer inserts by position).
COLUMNS: dict[str, tuple[str, ...]] = {
    "app_deployments": (
        "id",
        "environment",
        "namespace",
        "app",
        "started_at",
        "finished_at",
        "data",
    ),
    "failures": ("environment", "namespace", "app", "data"),
    "changes": ("received_at", "data"),
    "alerts": ("fingerprint", "environment", "namespace", "app"),
}


# What a database operation raises: SQLite's errors, and UnicodeDecodeError when the
# message of one quotes damaged bytes (e.g. "malformed database schema (\xe6ailures)").
DB_ERRORS = (sqlite3.Error, UnicodeDecodeError)


class StateError(Exception):
    """The state file cannot be used, or writing it failed: the message is one line that
    names the file and says what to do. The only exception the state file raises for a
    database problem (damage, a full disk, a read-only file, a lock)."""


def unusable(path: Path, problem: str, remedy: str = MOVE_AWAY) -> StateError:
    return StateError(f"state file {path} unusable: {problem}; {remedy}")


def from_sqlite(path: Path, exc: Exception, doing: str = "") -> StateError:
    """The one line for a database error at open or load, by SQLite's error code."""
    if isinstance(exc, UnicodeDecodeError):
        quoted = exc.object.decode("utf-8", "replace") if isinstance(exc.object, bytes) else ""
        return unusable(path, f"it is damaged ({doing}{' '.join(quoted.split())})")
    code = getattr(exc, "sqlite_errorname", None) or ""
    detail = f"{doing}{exc}"
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return unusable(path, f"it is damaged ({detail})")
    if code.startswith("SQLITE_READONLY"):
        return unusable(
            path, f"it is read-only ({detail})", "make it writable or use another --state-file"
        )
    if code.startswith("SQLITE_CANTOPEN"):
        return unusable(
            path,
            f"cannot open it ({detail})",
            "check the path and that its directory is writable",
        )
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return unusable(
            path,
            f"it is locked ({detail})",
            "stop the other process using it or use another --state-file",
        )
    if code.startswith("SQLITE_FULL"):
        return unusable(path, f"the disk is full ({detail})", "free some space")
    return unusable(path, detail, f"check the file, or {MOVE_AWAY}")


def open_database(path: Path) -> sqlite3.Connection:
    """Connect, refuse a damaged, foreign, newer or read-only file, migrate an older one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        empty = path.is_file() and path.stat().st_size == 0
        db = sqlite3.connect(path, isolation_level=None)
        db.text_factory = _lenient_text  # damaged text in what the checks read
    except OSError as exc:
        raise unusable(
            path, exc.strerror or str(exc), "check the path and that its directory is writable"
        ) from exc
    except DB_ERRORS as exc:
        raise from_sqlite(path, exc) from exc
    if empty:
        log.warning(
            "state file %s was empty (0 bytes): a new ledger is started there. That is right "
            "for a file created empty on purpose (e.g. by the chart); otherwise the file was "
            "truncated or the path is wrong, and the previous ledger is not in it",
            path,
        )
    try:
        _check_integrity(db, path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        _migrate(db, path)
        _check_schema(db, path)
        _check_writable(db)
    except StateError:
        db.close()
        raise
    except DB_ERRORS as exc:
        db.close()
        raise from_sqlite(path, exc) from exc
    return db


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _check_integrity(db: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA quick_check``: every page and record well-formed (a read of the whole file,
    without the slower index cross-checks of integrity_check)."""
    try:
        problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:  # the header or a page it reads first is damaged
        if not isinstance(exc, sqlite3.OperationalError):
            problems = [str(exc)]
        else:
            raise
    if problems != ["ok"]:
        detail = "; ".join(" ".join(p.split()) for p in problems)
        raise unusable(path, f"it is damaged (quick_check: {detail[:300]})")


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state file {path} has schema {version}, newer than this daylight "
            f"({SCHEMA_VERSION}); upgrade daylight or use another --state-file"
        )
    if version < 0:
        raise unusable(path, f"it is damaged (schema version {version})")
    if version == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise unusable(path, "it has tables but no schema version: not a daylight state file")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN")
        for statement in MIGRATIONS[target]:
            db.execute(statement)
        db.execute(f"PRAGMA user_version={target}")
        db.execute("COMMIT")
        log.info("state file %s migrated to schema %d", path, target)


def _check_schema(db: sqlite3.Connection, path: Path) -> None:
    for table, expected in COLUMNS.items():
        found = tuple(str(row[1]) for row in db.execute(f"PRAGMA table_info({table})"))
        if not found:
            raise unusable(path, f"table {table} is missing")
        if found != expected:
            raise unusable(path, f"table {table} has columns {', '.join(found)}")


def _check_writable(db: sqlite3.Connection) -> None:
    """A write that changes nothing: a read-only file fails here, not at the first save."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM alerts WHERE 0")
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")
