"""Splitting a JSON document into the byte spans of its parts, without recursion.

The decoders recurse once per nesting level, so an object nested deeper than Python's
recursion limit cannot be decoded — not even skipped over. A LIST page holding one such item
(custom resources with ``x-kubernetes-preserve-unknown-fields`` allow any depth up to the API
server's own limit) would hide every other item of the page. This scanner finds the spans of
a document's top-level members and of an array's elements by counting brackets, so the page
can be decoded item by item and only the deep item be dropped. It is the slow path, used only
after the fast decoder failed.
"""

from __future__ import annotations

_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_SPACE = frozenset(b" \t\r\n")


class ScanError(ValueError):
    """Not a well-formed JSON object or array where one was expected."""


def _string_end(data: bytes, start: int) -> int:
    """Index just past the string starting at ``start`` (which holds the opening quote)."""
    i = start + 1
    while True:
        quote = data.find(b'"', i)
        if quote < 0:
            raise ScanError("unterminated string")
        backslashes = 0
        j = quote - 1
        while j > start and data[j] == 0x5C:
            backslashes += 1
            j -= 1
        if backslashes % 2 == 0:
            return quote + 1
        i = quote + 1


def value_end(data: bytes, start: int) -> int:
    """Index just past the JSON value starting at ``start`` (no leading whitespace)."""
    if start >= len(data):
        raise ScanError("value expected")
    first = data[start]
    if first == 0x22:  # '"'
        return _string_end(data, start)
    if first not in _OPEN:
        i = start
        while i < len(data) and data[i] not in b",]} \t\r\n":
            i += 1
        return i
    depth = 0
    i = start
    while i < len(data):
        byte = data[i]
        if byte == 0x22:
            i = _string_end(data, i)
            continue
        if byte in _OPEN:
            depth += 1
        elif byte in _CLOSE:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ScanError("unbalanced brackets")


def _skip_space(data: bytes, i: int) -> int:
    while i < len(data) and data[i] in _SPACE:
        i += 1
    return i


def members(data: bytes) -> dict[bytes, tuple[int, int]]:
    """Spans of the values of a top-level JSON object's members, by raw key bytes."""
    i = _skip_space(data, 0)
    if i >= len(data) or data[i] != 0x7B:
        raise ScanError("object expected")
    out: dict[bytes, tuple[int, int]] = {}
    i = _skip_space(data, i + 1)
    while i < len(data) and data[i] != 0x7D:
        if data[i] != 0x22:
            raise ScanError("member name expected")
        key_end = _string_end(data, i)
        key = data[i + 1 : key_end - 1]
        i = _skip_space(data, key_end)
        if i >= len(data) or data[i] != 0x3A:
            raise ScanError("':' expected")
        start = _skip_space(data, i + 1)
        end = value_end(data, start)
        out[key] = (start, end)
        i = _skip_space(data, end)
        if i < len(data) and data[i] == 0x2C:
            i = _skip_space(data, i + 1)
    return out


def elements(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the elements of the JSON array at ``data[start:end]``."""
    if data[start : start + 1] != b"[":
        raise ScanError("array expected")
    out = []
    i = _skip_space(data, start + 1)
    while i < end and data[i] != 0x5D:
        item_end = value_end(data, i)
        out.append((i, item_end))
        i = _skip_space(data, item_end)
        if i < end and data[i] == 0x2C:
            i = _skip_space(data, i + 1)
    return out
