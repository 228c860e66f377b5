"""Write the command reference of docs/cli.md from the real ``--help`` of every command.

The reference goes between the ``<!-- cli-help -->`` and ``<!-- /cli-help -->`` markers; the
text around them is left alone. ``tests/cli/test_cli_docs.py`` regenerates it in memory and
fails when docs/cli.md differs, so the page cannot drift from the code.

    python docs/gen_cli.py            # rewrite docs/cli.md
    python docs/gen_cli.py --check    # exit 1 when docs/cli.md is out of date
"""

from __future__ import annotations

import pathlib
import sys

import click

from batchframe.cli import main as cli

PAGE = pathlib.Path(__file__).resolve().parent / "cli.md"
START = "<!-- cli-help -->"
END = "<!-- /cli-help -->"
WIDTH = 100
#: Reading order of the reference; a command missing here is still documented, after these.
ORDER = ("run", "submit", "status", "wait", "results", "cancel", "ls", "serve")

INTRO = """# Command line

`python -m batchframe` works the same as `batchframe`.

The reference below is generated from `batchframe --help`.
"""


def command_names(group: click.Group) -> list[str]:
    """Every command of ``group``: those in ``ORDER`` first, any others alphabetically after."""
    ctx = click.Context(group, info_name="batchframe")
    names = group.list_commands(ctx)
    return [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER)


def help_text(group: click.Group, name: str | None = None) -> str:
    """The ``--help`` output of ``batchframe`` (``name=None``) or ``batchframe NAME``."""
    root = click.Context(
        group, info_name="batchframe", terminal_width=WIDTH, max_content_width=WIDTH
    )
    if name is None:
        return group.get_help(root)
    command = group.get_command(root, name)
    if command is None:
        raise KeyError(name)
    return command.get_help(click.Context(command, info_name=name, parent=root))


def reference(group: click.Group = cli) -> str:
    """The generated Markdown: one section per command with its help in a text block."""
    sections = [("batchframe", help_text(group))]
    sections += [(f"batchframe {n}", help_text(group, n)) for n in command_names(group)]
    return "\n".join(f"## `{title}`\n\n```text\n{text.rstrip()}\n```\n" for title, text in sections)


def render(page: str, group: click.Group = cli) -> str:
    """``page`` with the reference replaced between the markers (added if they are missing)."""
    if START not in page:
        page = (page.rstrip() + "\n\n" if page.strip() else INTRO + "\n") + START + "\n"
    head, _, rest = page.partition(START)
    _, found, tail = rest.partition(END)
    tail = tail if found else "\n"
    return f"{head}{START}\n\n{reference(group)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print(f"{PAGE} is out of date: run python docs/gen_cli.py", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        PAGE.write_text(fresh, encoding="utf-8")
        print(f"wrote {PAGE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
