"""Golden outputs: each event log in, the exact bytes out.

For every recorded log of tests/fixtures/ and the demo world (tests/golden/demo_world.py),
the files under tests/golden/<case>/ hold what Daylight made of it when they were written:
the ``/metrics`` exposition (DORA families and the model's self-metrics), the report JSON
over 1 and 30 days, the report table, and every row of the state file. They prove that a
refactor changed no behaviour (the way kube-state-metrics tests a store: object in, exact
exposition out). A deliberate change of behaviour rewrites them:

    DAYLIGHT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden

and the diff of the golden files is then part of the change, to be read like code.

Two ways in: ``replay`` feeds every line as a live event, as ``daylight replay`` does;
``sync`` feeds the objects of the log's first instant as the start-up list (history, as
``daylight run`` lists them) and the rest as live events; ``restart`` watches half the log,
saves the state file, and lets a new process load it, list the cluster and watch the rest.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.golden import outputs

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"
UPDATE = os.environ.get("DAYLIGHT_UPDATE_GOLDEN") == "1"

CASES: dict[str, tuple[str, str]] = {
    "deployment-lifecycle": ("deployment-lifecycle.jsonl", "replay"),
    "progress-deadline-rollback": ("progress-deadline-rollback.jsonl", "replay"),
    "statefulset-daemonset": ("statefulset-daemonset.jsonl", "replay"),
    "multi-workload-app": ("multi-workload-app.jsonl", "replay"),
    "demo-world-replay": ("demo-world.jsonl.gz", "replay"),
    "demo-world-sync": ("demo-world.jsonl.gz", "sync"),
    "demo-world-restart": ("demo-world.jsonl.gz", "restart"),
    "deployment-lifecycle-restart": ("deployment-lifecycle.jsonl", "restart"),
    "progress-deadline-rollback-restart": ("progress-deadline-rollback.jsonl", "restart"),
}


def _log(name: str, tmp_path: Path) -> Path:
    if not name.endswith(".gz"):
        return FIXTURES / name
    target = tmp_path / name.removesuffix(".gz")
    target.write_bytes(gzip.decompress((HERE / name).read_bytes()))
    return target


@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_are_byte_identical(case: str, tmp_path: Path) -> None:
    log_name, mode = CASES[case]
    produced = outputs.produce(_log(log_name, tmp_path), mode, tmp_path / "state.db")
    folder = HERE / case
    if UPDATE:
        folder.mkdir(exist_ok=True)
        for name, data in produced.items():
            (folder / name).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    assert sorted(expected) == sorted(produced), "golden files and outputs differ in names"
    for name, data in produced.items():
        assert data == expected[name], f"{case}/{name} differs from the golden file"


def test_golden_files_have_content() -> None:
    """Guards against golden files written from an empty replay (which would prove nothing)."""
    for case in CASES:
        report = json.loads((HERE / case / "report-30d.json").read_bytes())
        assert report["app_deployments"], f"{case}: the golden report has no deployments"
        metrics = (HERE / case / "metrics.prom").read_bytes()
        assert b"dora_app_deployments_total{" in metrics
        state = json.loads((HERE / case / "state.json").read_bytes())
        assert state["app_deployments"], f"{case}: the golden state file has no rows"


def test_state_dump_reads_every_table(tmp_path: Path) -> None:
    """The dump must cover each table of the schema, or a lost table would go unnoticed."""
    db = tmp_path / "state.db"
    outputs.produce(FIXTURES / "deployment-lifecycle.jsonl", "replay", db)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == set(json.loads(outputs.dump_state(db)))
