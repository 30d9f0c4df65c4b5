"""Label and field selector grammar of the simulated API server."""

from __future__ import annotations

import pytest

from kubesim.errors import ApiError
from kubesim.selectors import parse_field_selector, parse_label_selector

LABELS = {"app": "web", "tier": "frontend", "env": "prod", "replicas": "3"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=api", True),
        ("missing!=x", True),
        ("app in (web, api)", True),
        ("app in (api)", False),
        ("app notin (api,db)", True),
        ("missing notin (a)", True),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("app=web,tier=frontend", True),
        ("app=web,tier in (backend)", False),
        ("env in (prod,staging),!canary", True),
        ("replicas>2", True),
        ("replicas<2", False),
        ("example.com/team=a", False),
    ],
)
def test_label_selector_semantics(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize("bad", ["app=", "=web", "app in ()", "a b", "app in (x", "app=web,,x"])
def test_invalid_label_selectors_are_bad_requests(bad: str) -> None:
    if bad == "app=":
        # An empty value is legal: it matches objects whose label value is empty.
        assert parse_label_selector(bad).matches({"app": ""})
        return
    with pytest.raises(ApiError) as err:
        parse_label_selector(bad)
    assert err.value.code == 400


def test_labels_of_the_wrong_type_never_match_requirements() -> None:
    assert not parse_label_selector("app=web").matches([])
    assert parse_label_selector("!app").matches(None)


def test_field_selectors() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Running"}}
    assert parse_field_selector("metadata.name=p", "pods")(pod)
    assert not parse_field_selector("metadata.name!=p", "pods")(pod)
    assert parse_field_selector("metadata.namespace==ns,status.phase=Running", "pods")(pod)
    with pytest.raises(ApiError) as err:
        parse_field_selector("status.phase=Running", "deployments")
    assert err.value.code == 400
