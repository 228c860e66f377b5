"""The ``batchframe`` command line (``batchframe --help``; ``python -m batchframe`` works the same).

- :mod:`~batchframe.cli.app`: the command group, its help and exit codes;
- :mod:`~batchframe.cli.commands`: ``run``, ``submit``, ``status``, ``wait``, ``results``,
  ``cancel``, ``ls``; :mod:`~batchframe.cli.serve`: ``serve``; :mod:`~batchframe.cli.cost`:
  ``estimate``, ``cache info|clear`` and the cost options of ``run``/``submit``;
- :mod:`~batchframe.cli.jobs`, :mod:`~batchframe.cli.session`, :mod:`~batchframe.cli.tables`:
  what the commands share (input options, connections and errors, table files);
  :mod:`~batchframe.cli.listing`: the ``ls`` table.
"""

from __future__ import annotations

from batchframe.cli import commands, cost, serve  # noqa: F401  (importing registers the commands)
from batchframe.cli.app import main

__all__ = ["main"]
