"""The exception tree: drawn the same in errors.py and docs/errors.md, true to the classes,
and every error mapped to the exit code the errors page gives it."""

from __future__ import annotations

import inspect
import pathlib
import re
import textwrap

import pytest

import batchframe as bf
from batchframe import errors
from batchframe.cli.session import exit_code_for

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
TREE_LINE = re.compile(r"^(?P<lead>[ |]*)(?:\+-- )?(?P<name>[A-Za-z]+Error)\b")


def drawn_tree(text: str) -> str:
    """The block of tree lines that starts with ``BatchframeError``, dedented."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "BatchframeError")
    block = []
    for line in lines[start:]:
        if not line.strip() or line.startswith("```"):
            break
        block.append(line.rstrip())
    return textwrap.dedent("\n".join(block))


def parents(tree: str) -> dict[str, str | None]:
    """Each class of a drawn tree and its parent, read from where its ``+--`` stands."""
    found: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name)
    for line in tree.splitlines():
        match = TREE_LINE.match(line)
        assert match, f"not a tree line: {line!r}"
        column = match.start("name")
        while stack and stack[-1][0] >= column:
            stack.pop()
        found[match["name"]] = stack[-1][1] if stack else None
        stack.append((column, match["name"]))
    return found


def error_classes() -> dict[str, type[BaseException]]:
    return {
        name: obj
        for name in errors.__all__
        if inspect.isclass(obj := getattr(errors, name)) and issubclass(obj, BaseException)
    }


def test_the_docs_draw_the_tree_of_the_errors_module() -> None:
    module_tree = drawn_tree(errors.__doc__ or "")
    page_tree = drawn_tree(PAGE.split("```text", 1)[1])
    assert page_tree == module_tree, "docs/errors.md and batchframe/errors.py draw different trees"


def test_the_drawn_tree_is_the_real_class_tree() -> None:
    drawn = parents(drawn_tree(errors.__doc__ or ""))
    classes = error_classes()
    assert set(drawn) == set(classes), "a class is missing from the drawing, or drawn but gone"
    for name, parent in drawn.items():
        real = classes[name].__bases__[0]
        expected = "Exception" if parent is None else parent
        assert real.__name__ == expected, f"{name} is drawn under {parent}, but subclasses {real}"
        assert getattr(bf, name) is classes[name]  # importable from batchframe too


def documented_exit_codes() -> dict[str, int]:
    table = PAGE.split("<!-- exit-code-table", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \|$", table, flags=re.M)
    return {name: int(code) for name, code in rows}


def test_every_error_has_the_exit_code_the_errors_page_gives_it() -> None:
    documented = documented_exit_codes()
    classes = error_classes()
    assert set(documented) == set(classes) - {"BatchframeError"}, "exit-code table out of date"
    for name, code in documented.items():
        cls = classes[name]
        assert exit_code_for(cls.__new__(cls)) == code, name
        assert code != 1, f"{name} is an error raised on purpose, not a bug"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ValueError("missing column 'x'"), 2),
        (KeyError("internal"), 1),
        (LookupError("internal"), 1),
        (IndexError("internal"), 1),
        (TypeError("internal"), 1),
        (RuntimeError("internal"), 1),
    ],
)
def test_the_rest_of_the_exit_code_table(exc: BaseException, code: int) -> None:
    assert exit_code_for(exc) == code
    rows = PAGE.split("<!-- exit-code-table", 1)[1]
    assert "any other `ValueError`" in rows and "`KeyError`, `LookupError`" in rows
