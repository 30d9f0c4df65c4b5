"""Deterministic, valid, collision-resistant names."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from exporter.launcher import naming

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@given(
    phase=st.sampled_from(["pre", "post"]),
    task=st.text(min_size=1, max_size=300),
    owner=st.text(min_size=1, max_size=300),
    identity=st.lists(st.text(max_size=50), max_size=10),
)
def test_job_names_are_dns_labels_and_deterministic(
    phase: str, task: str, owner: str, identity: list[str]
) -> None:
    name = naming.job_name(phase, task, owner, identity)
    assert DNS_LABEL.match(name), name
    assert name == naming.job_name(phase, task, owner, identity)


def test_every_part_of_the_identity_counts() -> None:
    base = ["shop", "Deployment", "checkout", "uid-1", "shop", "checkout", "1.0", "3", "t", "post"]
    names = {naming.job_name("post", "t", "checkout", base)}
    for index in range(len(base)):
        changed = list(base)
        changed[index] += "x"
        names.add(naming.job_name("post", "t", "checkout", changed))
    assert len(names) == len(base) + 1


@given(st.text(max_size=200))
def test_label_values_are_valid(text: str) -> None:
    value = naming.label_value(text)
    assert len(value) <= 63 and LABEL_VALUE.match(value), value


def test_valid_label_values_are_kept() -> None:
    assert naming.label_value("1.4.0") == "1.4.0"
    assert naming.label_value("v1+build.7") != "v1+build.7"
