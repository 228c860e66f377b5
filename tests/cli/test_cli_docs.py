"""docs/cli.md carries the real ``--help`` of every command, so the page cannot drift."""

from __future__ import annotations

import importlib.util
import pathlib
from types import ModuleType

import click

from batchframe.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _gen_cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date() -> None:
    gen = _gen_cli()
    page = gen.PAGE.read_text(encoding="utf-8")
    assert gen.render(page) == page, (
        "docs/cli.md does not match `batchframe --help`: run `python docs/gen_cli.py`"
    )


def test_reference_covers_every_command_with_an_example() -> None:
    gen = _gen_cli()
    text = gen.reference()
    names = gen.command_names(main)
    assert set(names) >= {"run", "submit", "status", "wait", "results", "cancel", "ls", "serve"}
    for name in names:
        assert f"## `batchframe {name}`" in text
        command = main.get_command(click.Context(main), name)
        assert command is not None and "Example" in (command.help or ""), name


def test_render_keeps_the_text_around_the_markers() -> None:
    gen = _gen_cli()
    page = f"# Intro\n\nhand-written\n\n{gen.START}\nstale\n{gen.END}\n\n## After\n"
    fresh = gen.render(page)
    assert fresh.startswith("# Intro\n\nhand-written\n\n")
    assert fresh.endswith(f"{gen.END}\n\n## After\n")
    assert "stale" not in fresh
    assert gen.render(fresh) == fresh
    assert gen.render("").startswith("# Command line")
