"""Every docstring example in the package runs with the suite (one test per docstring).

An example that needs a network or a server is marked ``# doctest: +SKIP`` where it is written.
The examples run under the suite's ``filterwarnings = error``, so one that leaves a file open
(a ``ResourceWarning``) fails like any other test.

This is the stdlib ``doctest`` over the imported modules rather than ``--doctest-modules`` in
the pytest options: pytest 9 would also import ``tests/**/conftest.py`` as doctest modules, and
three files of that one name cannot all be imported in the default import mode.
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import batchframe

#: The flags pytest's own doctest runner uses by default.
FLAGS = doctest.ELLIPSIS


def _module_names() -> list[str]:
    names = [batchframe.__name__]
    for info in pkgutil.walk_packages(batchframe.__path__, prefix=f"{batchframe.__name__}."):
        if info.name.rsplit(".", 1)[-1] != "__main__":  # importing it would run the command
            names.append(info.name)
    return sorted(names)


def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found: list[doctest.DocTest] = []
    for name in _module_names():
        module = importlib.import_module(name)
        # Only what the module defines: an imported function's examples run with its own module.
        found += [t for t in finder.find(module, name) if t.examples]
    return sorted(found, key=lambda t: t.name)


DOCTESTS = _doctests()


def test_the_package_has_doctests_to_run() -> None:
    names = {t.name.rsplit(".", 1)[0] for t in DOCTESTS}
    assert len(DOCTESTS) >= 40, len(DOCTESTS)
    assert "batchframe.server.config" in names  # load_keys's example: it once leaked a file


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_examples(test: doctest.DocTest) -> None:
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    # A copy of the module's globals per test, as pytest gives: no example sees another's names.
    test.globs = dict(test.globs)
    result = runner.run(test, out=out.write, clear_globs=True)
    assert result.failed == 0, out.getvalue()
