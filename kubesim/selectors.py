"""Label and field selectors, with the grammar and semantics of the API server.

Notable semantics kept from the real implementation: `!=` and `notin` match objects that do
not carry the key at all, and a selector that does not parse is a 400, not an empty result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubesim.errors import ApiError, bad_request
from kubesim.util import dig

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SET_OP = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)$")
_CMP_OP = re.compile(r"^(?P<key>[^=!<>\s]+)\s*(?P<op>==|=|!=|<|>)\s*(?P<value>\S*)$")


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # exists, !exists, in, notin, gt, lt
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "in":
            return present and labels[self.key] in self.values
        if self.op == "notin":
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        try:
            have = int(labels[self.key])
            want = int(next(iter(self.values)))
        except ValueError:
            return False
        return have > want if self.op == "gt" else have < want


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Any) -> bool:
        if not self.requirements:
            return True
        mapping = labels if isinstance(labels, Mapping) else {}
        return all(r.matches(mapping) for r in self.requirements)


def _split_top_level(text: str) -> list[str]:
    """Splits on commas that are not inside a `(...)` value set."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _check_key(key: str, source: str) -> str:
    if not _KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in {source!r}")
    return key


def _check_value(value: str, source: str) -> str:
    if len(value) > 63 or not _VALUE.match(value):
        raise bad_request(
            f"unable to parse requirement: invalid label value {value!r} in {source!r}"
        )
    return value


def _parse_requirement(part: str, source: str) -> Requirement:
    text = part.strip()
    if not text:
        raise bad_request(f"unable to parse requirement: empty requirement in {source!r}")
    m = _SET_OP.match(text)
    if m:
        values = [v.strip() for v in m["values"].split(",")]
        if values == [""]:
            raise bad_request(f"unable to parse requirement: empty value set in {source!r}")
        checked = frozenset(_check_value(v, source) for v in values)
        return Requirement(_check_key(m["key"], source), m["op"], checked)
    m = _CMP_OP.match(text)
    if m:
        key, op, value = _check_key(m["key"], source), m["op"], m["value"]
        if op in ("<", ">"):
            if not value.lstrip("-").isdigit():
                raise bad_request(f"unable to parse requirement: {value!r} is not an integer")
            return Requirement(key, "gt" if op == ">" else "lt", frozenset({value}))
        op_name = "notin" if op == "!=" else "in"
        return Requirement(key, op_name, frozenset({_check_value(value, source)}))
    if text.startswith("!"):
        return Requirement(_check_key(text[1:].strip(), source), "!exists")
    return Requirement(_check_key(text, source), "exists")


def parse_label_selector(text: str | None) -> LabelSelector:
    if text is None or not text.strip():
        return LabelSelector()
    return LabelSelector(tuple(_parse_requirement(p, text) for p in _split_top_level(text)))


# -- field selectors -------------------------------------------------------------------------

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "namespaces": ("status.phase",),
    "jobs": ("status.successful",),
    "events": ("reason", "type", "regarding.kind", "regarding.name", "regarding.namespace"),
}

FieldMatcher = Callable[[Mapping[str, Any]], bool]


def _field_value(obj: Mapping[str, Any], field: str) -> str:
    if field == "status.successful":
        succeeded = dig(obj, "status", "succeeded")
        return str(succeeded) if succeeded is not None else ""
    value = dig(obj, *field.split("."))
    return "" if value is None else str(value)


def parse_field_selector(text: str | None, plural: str) -> FieldMatcher:
    """Only the fields the real server indexes are allowed; others are a 400 like there."""
    if text is None or not text.strip():
        return lambda _obj: True
    allowed = _COMMON_FIELDS + _EXTRA_FIELDS.get(plural, ())
    terms: list[tuple[str, bool, str]] = []
    for part in text.split(","):
        m = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(\S*)\s*$", part)
        if not m:
            raise bad_request(f"invalid field selector: {part!r}")
        field, op, value = m.group(1), m.group(2), m.group(3)
        if field not in allowed:
            raise ApiError(
                400,
                "BadRequest",
                f'"{field}" is not a known field selector: only "metadata.name", '
                '"metadata.namespace"',
            )
        terms.append((field, op != "!=", value))

    def match(obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, f) == v) == eq for f, eq, v in terms)

    return match
