"""Data and checks shared by the command-line tests."""

from __future__ import annotations

#: Prompts with commas, quotes, accents and a newline: the CSV round trip must keep them.
PROMPTS = [
    "Great kettle, boils fast.",
    'The "barista quality" claim is generous.',
    "Très bien, merci — São Paulo to Kraków.",
    "Two lines:\nsecond line here.",
    "Short.",
]


def one_error_line(stderr: str) -> str:
    """The error text, asserting it is short and has no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, stderr
    assert lines[0].startswith("Error: "), stderr
    return "\n".join(lines)
