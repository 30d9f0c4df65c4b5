"""The structure rules of docs/design.md that ruff and import-linter cannot check.

- no class longer than 300 lines anywhere in the product (exporter/, kubesim/, tools/);
- no module of the model over 400 lines, and the model's facade under 250;
- a ``# noqa``, ``# type: ignore`` or ``# fmt: skip`` always says why, on its own line.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("exporter", "kubesim", "tools")
CHECKED = (*PRODUCT, "tests")
MAX_CLASS = 300
MAX_MODEL_MODULE = 400
MAX_FACADE = 250
DIRECTIVE = re.compile(
    r"#\s*(noqa(?::\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?"
    r"|type:\s*ignore(?:\[[^\]]*\])?|fmt:\s*skip)"
)
REASON = re.compile(r"[A-Za-z]{3,}")


def _python_files(*roots: str) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        files += sorted(p for p in (ROOT / root).rglob("*.py") if "__pycache__" not in p.parts)
    return files


def _classes(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (node.name, (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    ]


def test_no_class_is_longer_than_300_lines() -> None:
    long = [
        f"{path.relative_to(ROOT)}: class {name} has {length} lines"
        for path in _python_files(*PRODUCT)
        for name, length in _classes(path)
        if length > MAX_CLASS
    ]
    assert not long, "\n".join(long)


def test_the_model_stays_small() -> None:
    model = ROOT / "exporter" / "model"
    sizes = {p.name: len(p.read_text().splitlines()) for p in model.glob("*.py")}
    assert len(sizes) > 10, "the model's modules were not found"
    too_long = {name: n for name, n in sizes.items() if n > MAX_MODEL_MODULE}
    assert not too_long, f"model modules over {MAX_MODEL_MODULE} lines: {too_long}"
    assert sizes["engine.py"] < MAX_FACADE, f"the facade has {sizes['engine.py']} lines"


def _unexplained(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        match = DIRECTIVE.search(token.string)
        if match is None:
            continue
        rest = token.string[match.end() :]
        if not REASON.search(rest):
            found.append(f"{path.relative_to(root)}:{token.start[0]}: {token.string.strip()}")
    return found


def test_every_suppression_says_why() -> None:
    found = [line for path in _python_files(*CHECKED) for line in _unexplained(path)]
    assert not found, "suppressions without a reason:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("comment", "explained"),
    [
        ("x = 1  # noqa: E501", False),
        ("x = 1  # noqa: E501 - a URL cannot be wrapped", True),
        ("x = 1  # type: ignore[attr-defined]", False),
        ("x = 1  # type: ignore[attr-defined]  # the stub lacks it", True),
        ("x = (1,)  # fmt: skip", False),
        ("x = (1,)  # fmt: skip - a table", True),
        ("x = 1  # a comment about noqa in prose is not a directive", True),
    ],
)
def test_the_suppression_check_itself(tmp_path: Path, comment: str, explained: bool) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(comment + "\n")
    found = _unexplained(probe, tmp_path)
    assert (not found) is explained, found
