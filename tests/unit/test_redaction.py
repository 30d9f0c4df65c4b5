"""Credentials in URLs from outside input never reach a message, an Event or an annotation."""

from __future__ import annotations

import json

import pytest

from exporter.checks.keptn import NamespaceGate
from exporter.evaluations.catalog import Catalog, EvaluationFailure
from exporter.evaluations.prometheus import PrometheusClient
from exporter.events import urls
from exporter.launcher.render import InvalidTask, RuntimeImages, render_invalid, render_task
from tests.launcher.helpers import definition, request

SECRET = "s3cr3t-t0ken"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://user:{SECRET}@code.example/task.py", "https://***@code.example/task.py"),
        (f"https://{SECRET}@code.example:8443/a", "https://***@code.example:8443/a"),
        (f"https://code.example/a?token={SECRET}", "https://code.example/a?***"),
        ("https://code.example/a", "https://code.example/a"),
    ],
)
def test_redact_drops_userinfo_and_query(url: str, shown: str) -> None:
    assert urls.redact(url) == shown


def test_a_rejected_http_ref_keeps_its_credentials_out_of_the_failure_record() -> None:
    bad = f"ftp://admin:{SECRET}@code.example/task.py"  # not http(s): rejected
    spec = definition("fetch", {"python": {"httpRef": {"url": bad}}})
    with pytest.raises(InvalidTask) as caught:
        render_task(request("fetch"), spec, lambda _name: None, RuntimeImages())
    assert SECRET not in caught.value.message
    record = render_invalid(request("fetch"), caught.value.reason, caught.value.message)
    assert SECRET not in json.dumps(record)


def test_a_rejected_target_server_keeps_its_credentials_out_of_the_failure() -> None:
    catalog = Catalog(gate=NamespaceGate())
    catalog.observe(
        definition(
            "prometheus",
            {"type": "prometheus", "targetServer": f"prom://admin:{SECRET}@prometheus:9090"},
            kind="KeptnMetricsProvider",
        ),
        deleted=False,
    )
    with pytest.raises(EvaluationFailure) as caught:
        catalog._provider("shop", "prometheus", explicit=True)
    assert SECRET not in caught.value.message and "***@" in caught.value.message


async def test_a_query_error_does_not_quote_the_credentials_of_the_server() -> None:
    client = PrometheusClient(timeout_s=2.0)
    try:
        result = await client.instant(f"http://admin:{SECRET}@127.0.0.1:9", "up", insecure=False)
    finally:
        await client.close()
    assert result.status == "error"
    assert SECRET not in result.message
