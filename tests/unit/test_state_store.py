"""The state file under damage and at its limits: every problem is one clear line or a
skipped, counted row, never a traceback; and every change is saved (design §3 "History")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.app.cli import main
from exporter.app.commands import replay_into
from exporter.events.envelope import SideKind
from exporter.events.external import Change
from exporter.model.changes import MAX_PENDING
from exporter.model.engine import DoraModel
from exporter.outputs.report import build_report
from exporter.state.store import StateError, StateStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHOP = "shop-8eea44"  # the namespace of multi-workload-app.jsonl


def state_model() -> tuple[DoraModel, float]:
    """A replayed ledger with a row in every table: deployments, an open failure (a firing
    alert), the alert, and CI changes."""
    model = DoraModel()
    last = replay_into(model, str(FIXTURES / "multi-workload-app.jsonl")).last
    assert last is not None
    alert = {"status": "firing", "labels": {"alertname": "X", "namespace": SHOP, "app": "shop"}}
    model.apply_external(SideKind.ALERT, alert, last + 10)
    for n in range(3):
        change = Change(f"abcdef{n}", last - 100 + n, version=f"v{n}", namespace=SHOP, app="shop")
        model.apply_change(change, last + 20 + n)
    now = last + 30
    model.advance(now)
    return model, now


def write_state(db: Path) -> float:
    model, now = state_model()
    store = StateStore(db)
    store.save(model, now, everything=True)
    store.close()
    return now


def rows(db: Path, table: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()


def execute(db: Path, statement: str, *params: object) -> None:
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute(statement, params)


# ----------------------------------------------------------------- bug 1: saving changes


def test_changes_are_saved_after_the_pending_queue_is_full(tmp_path: Path) -> None:
    model = DoraModel()
    store = StateStore(tmp_path / "state.db")
    for n in range(MAX_PENDING):
        model.apply_change(Change(f"{n:07x}", 1.0e9 + n), 1.0e9 + n)
    store.save(model, 1.0e9 + MAX_PENDING)
    assert len(rows(tmp_path / "state.db", "changes")) == MAX_PENDING
    newest = Change("fedcba9", 1.1e9)
    model.apply_change(newest, 1.1e9)  # the queue is full: the oldest change makes room
    store.save(model, 1.1e9)
    saved = rows(tmp_path / "state.db", "changes")
    assert len(saved) == MAX_PENDING
    assert any("fedcba9" in str(data) for _, data in saved), "the newest change was not saved"
    assert not any('"0000000"' in str(data) for _, data in saved), "the oldest one is still there"
    store.close()


def test_nothing_is_rewritten_when_nothing_changed(tmp_path: Path) -> None:
    model, now = state_model()
    store = StateStore(tmp_path / "state.db")
    store.save(model, now, everything=True)
    execute(tmp_path / "state.db", "DELETE FROM changes")  # a rewrite would bring them back
    store.save(model, now + 1)
    assert rows(tmp_path / "state.db", "changes") == []
    store.close()


def test_changes_saved_after_a_restart_are_the_loaded_ones_plus_new(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    now = write_state(db)
    model = DoraModel()
    store = StateStore(db)
    store.restore_into(model, now)
    model.apply_change(Change("1234567", now - 5), now + 1)
    store.save(model, now + 1)
    assert len(rows(db, "changes")) == 4
    store.close()


# ------------------------------------------------------ bug 2: unreadable rows, skipped


def test_bad_json_in_a_failures_row_is_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "state.db"
    now = write_state(db)
    execute(db, "UPDATE failures SET data = '{not json'")
    store = StateStore(db)
    model = DoraModel()
    with caplog.at_level(logging.WARNING, "daylight.state"):
        store.restore_into(model, now)
    assert store.skipped_rows == 1
    assert model.failures.open == {}
    assert any(
        "failures row" in r.getMessage() and str(db) in r.getMessage() for r in caplog.records
    )
    build_report(model, now, 30 * 86400.0)
    store.save(model, now, everything=True)
    store.close()


@pytest.mark.parametrize(
    ("table", "statement"),
    [
        ("failures", 'UPDATE failures SET data = \'{"opened_at": "yesterday"}\''),
        ("failures", "UPDATE failures SET data = '[1, 2]'"),
        ("failures", "UPDATE failures SET app = NULL"),
        ("failures", "UPDATE failures SET data = x'ff00ff'"),
        ("changes", "UPDATE changes SET data = 'nope' WHERE rowid = 1"),
        ("changes", "UPDATE changes SET data = '{\"commit_sha\": 7}' WHERE rowid = 1"),
        ("changes", 'UPDATE changes SET data = \'{"colour": "red"}\' WHERE rowid = 1'),
        ("changes", "UPDATE changes SET received_at = 'soon' WHERE rowid = 1"),
        ("alerts", "UPDATE alerts SET namespace = x'ff'"),
        ("alerts", "UPDATE alerts SET app = NULL"),
        ("app_deployments", "UPDATE app_deployments SET data = '{}' WHERE rowid = 1"),
        ("app_deployments", "UPDATE app_deployments SET data = x'c3' WHERE rowid = 1"),
        (
            "app_deployments",
            "UPDATE app_deployments SET data = printf('%.*c', 100000, '[') WHERE rowid = 1",
        ),
    ],
)
def test_a_bad_row_is_skipped_and_counted(tmp_path: Path, table: str, statement: str) -> None:
    db = tmp_path / "state.db"
    now = write_state(db)
    execute(db, statement)
    store = StateStore(db)
    model = DoraModel()
    store.restore_into(model, now)
    assert store.skipped_rows == 1, table
    build_report(model, now, 30 * 86400.0)
    store.save(model, now, everything=True)
    store.close()


def test_wrong_types_inside_an_app_deployment_are_a_skipped_row(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    now = write_state(db)
    execute(
        db,
        "UPDATE app_deployments SET data = json_set(data, '$.finished_at', 'tuesday') "
        "WHERE rowid = (SELECT max(rowid) FROM app_deployments)",
    )
    model = DoraModel()
    store = StateStore(db)
    store.restore_into(model, now)
    assert store.skipped_rows == 1
    build_report(model, now, 30 * 86400.0)
    store.close()


def test_a_row_with_a_damaged_id_column_still_loads_once(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    now = write_state(db)
    expected = len(rows(db, "app_deployments"))
    execute(db, "UPDATE app_deployments SET id = NULL WHERE rowid = 1")
    model = DoraModel()
    store = StateStore(db)
    store.restore_into(model, now)
    assert store.skipped_rows == 0
    store.save(model, now, everything=True)  # writes it again under its right id
    store.close()
    assert len(rows(db, "app_deployments")) == expected + 1
    again = StateStore(db)
    snapshot = again.load(now)
    again.close()
    assert again.skipped_rows == 1, "the copy with the damaged id is skipped"
    assert len(snapshot.groups) == len({g.identity for g in snapshot.groups}) == expected


# -------------------------------------------- bugs 2 and 4: files refused at open, one line


def _damage_a_middle_page(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    assert pages >= 3
    with db.open("r+b") as f:
        f.seek(page * (pages // 2))
        f.write(b"\xa5" * page)


def test_a_damaged_page_is_refused_at_open(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    write_state(db)
    _damage_a_middle_page(db)
    with pytest.raises(StateError, match=r"damaged \(quick_check: .*move it away"):
        StateStore(db)


def test_a_dropped_table_is_refused_at_open(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    write_state(db)
    execute(db, "DROP TABLE failures")
    with pytest.raises(StateError, match=f"{db}.*failures"):
        StateStore(db)


def test_not_a_database_is_refused_with_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not sqlite" * 300)
    with pytest.raises(StateError, match=f"state file {db} unusable: .*move it away"):
        StateStore(db)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """The file cannot be written, even by root (an immutable file when running as root)."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
        pytest.fail("cannot make a file read-only for root here (no chattr +i): install e2fsprogs")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_a_read_only_state_file_is_refused_at_open(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    now = write_state(db)
    with read_only(db), pytest.raises(StateError, match=f"state file {db} unusable: .*read-only"):
        store = StateStore(db)
        model = DoraModel()
        store.restore_into(model, now)
        store.save(model, now, everything=True)  # what LiveRuntime.start does first


def test_daylight_run_exits_2_with_one_line_for_a_damaged_state_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "state.db"
    write_state(db)
    _damage_a_middle_page(db)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    code = main(["run", "--kubeconfig", str(kubeconfig), "--state-file", str(db)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(f"daylight run: state file {db} unusable: ")
    assert "move it away" in err[-1]


# ------------------------------------------------------- bug 2: saves that fail at run time


class FailingWrites(sqlite3.Connection):
    """A database that starts failing at run time (disk full, corruption, read-only)."""

    error: sqlite3.Error = sqlite3.DatabaseError("database disk image is malformed")
    failing = True

    def executemany(self, sql: str, params: object, /) -> sqlite3.Cursor:
        if self.failing and sql.startswith("INSERT"):
            raise self.error
        return super().executemany(sql, params)  # type: ignore[arg-type]  # passed through


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.DatabaseError("database disk image is malformed"),
        sqlite3.OperationalError("database or disk is full"),
        sqlite3.OperationalError("attempt to write a readonly database"),
    ],
)
def test_a_failing_save_raises_state_error_and_is_retried(
    tmp_path: Path, error: sqlite3.Error
) -> None:
    db = tmp_path / "state.db"
    model, now = state_model()
    store = StateStore(db)
    store.db.close()
    store.db = sqlite3.connect(db, isolation_level=None, factory=FailingWrites)
    assert isinstance(store.db, FailingWrites)
    store.db.error = error
    with pytest.raises(StateError, match=f"state file {db}: save failed: {error}"):
        store.save(model, now)
    assert not store.db.in_transaction
    store.db.failing = False  # space again: what was not written is written now
    assert store.save(model, now) == len(rows(db, "app_deployments")) > 0
    assert len(rows(db, "changes")) == 3
    assert len(rows(db, "alerts")) == len(rows(db, "failures")) == 1
    store.close()


def test_disk_full_at_run_time_is_a_state_error(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = StateStore(db)
    pages = int(store.db.execute("PRAGMA page_count").fetchone()[0])
    store.db.execute(f"PRAGMA max_page_count={pages}")
    model = DoraModel()
    for n in range(2000):
        model.apply_change(Change(f"{n:07x}", 1.0e9 + n, version="x" * 200), 1.0e9 + n)
    with pytest.raises(StateError, match="full"):
        store.save(model, 1.0e9 + 2000)
    store.db.execute(f"PRAGMA max_page_count={pages * 1000}")
    store.save(model, 1.0e9 + 2001)
    assert len(rows(db, "changes")) == 2000
    store.close()


# ----------------------------------------------------------------- bug 3: a 0-byte file


def test_an_empty_state_file_is_a_warning_and_a_new_ledger(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "state.db"
    db.touch()
    with caplog.at_level(logging.INFO, "daylight.state"):
        store = StateStore(db)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.records
    assert str(db) in warnings[0]
    assert "empty" in warnings[0]
    assert "new ledger" in warnings[0]
    model, now = state_model()
    store.save(model, now, everything=True)
    assert rows(db, "app_deployments")
    store.close()


def test_a_missing_state_file_is_created_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "daylight.state"):
        StateStore(tmp_path / "new" / "state.db").close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# ------------------------------------------------------------- the running exporter's side


def test_a_full_disk_is_logged_counted_and_retried_by_the_running_exporter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The clock task's save fails for a while: one error line (not one a second), the
    failures counted on /metrics, and when space is back everything is written."""
    from exporter.app.runtime import LiveRuntime
    from exporter.kube.config import ClusterAccess
    from exporter.outputs.selfmetrics import StateFile, build_registry, render_self

    db = tmp_path / "state.db"
    store = StateStore(db)
    pages = int(store.db.execute("PRAGMA page_count").fetchone()[0])
    store.db.execute(f"PRAGMA max_page_count={pages}")
    model = DoraModel()
    for n in range(2000):
        model.apply_change(Change(f"{n:07x}", 1.0e9 + n, version="x" * 200), 1.0e9 + n)
    runtime = LiveRuntime(ClusterAccess.plain("http://127.0.0.1:1"), model, state=store)
    with caplog.at_level(logging.WARNING, "daylight"):
        for second in range(30):
            runtime.tick(1.0e9 + 2000 + second)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "full" in errors[0].getMessage() and not errors[0].exc_info
    exposition = render_self(build_registry([StateFile(store.counters)], process=False))
    assert b"daylight_state_save_failures_total 30.0" in exposition
    assert b"daylight_state_last_save_timestamp_seconds" not in exposition
    store.db.execute(f"PRAGMA max_page_count={pages * 1000}")
    runtime.tick(1.0e9 + 2030)
    assert len(rows(db, "changes")) == 2000
    assert any("saved again" in r.getMessage() for r in caplog.records)
    exposition = render_self(build_registry([StateFile(store.counters)], process=False))
    assert b"daylight_state_last_save_timestamp_seconds 1.00000203e+09" in exposition
    store.close()


def test_a_state_file_failing_to_load_stops_run_with_one_line(tmp_path: Path) -> None:
    """Damage found while loading (not at open) refuses the start like damage at open does."""
    from exporter.app.console import CommandError
    from exporter.app.runtime import LiveRuntime
    from exporter.kube.config import ClusterAccess

    class Unloadable(StateStore):
        def restore_into(self, model: DoraModel, now: float) -> int:
            raise StateError(f"state file {self.path} unusable: it is damaged (test)")

    runtime = LiveRuntime(
        ClusterAccess.plain("http://127.0.0.1:1"), DoraModel(), state=Unloadable(tmp_path / "s.db")
    )
    with pytest.raises(CommandError, match="unusable: it is damaged"):
        asyncio.run(runtime.start())
