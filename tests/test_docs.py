"""The docs site builds cleanly, lists every page, and the example data is reproducible."""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXCLUDED = ("dev/",)  # working notes for engineers; mkdocs.yml excludes them from the site


def _config() -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    raise AssertionError(f"unexpected nav entry: {nav!r}")


def test_site_builds_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    config, site = str(ROOT / "mkdocs.yml"), str(tmp_path / "site")
    # No -q: it hides warnings from mkdocs' counter, and --strict then passes anything.
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", config, "-d", site],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "RateLimitError" in api  # mkdocstrings rendered the modules


def test_every_page_is_in_the_nav() -> None:
    config = _config()
    for excluded in EXCLUDED:
        assert excluded in config["exclude_docs"]
    nav = _nav_pages(config["nav"])
    assert len(nav) == len(set(nav)), "a page is listed twice"
    pages = {
        p.relative_to(DOCS).as_posix()
        for p in DOCS.rglob("*.md")
        if not p.relative_to(DOCS).as_posix().startswith(EXCLUDED)
    }
    assert pages - set(nav) == set(), "pages missing from the nav in mkdocs.yml"
    assert set(nav) - pages == set(), "nav entries with no page"


def test_cli_page_keeps_the_generated_help_marker() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert "<!-- cli-help -->" in text


def _load_make_reviews() -> Any:
    spec = importlib.util.spec_from_file_location("make_reviews", ROOT / "examples/make_reviews.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_data_is_reproducible_and_label_free(tmp_path: Path) -> None:
    make_reviews = _load_make_reviews()
    out = tmp_path / "reviews.csv"
    make_reviews.write_csv(out, make_reviews.make_rows())
    committed = ROOT / "examples" / "reviews.csv"
    assert out.read_bytes() == committed.read_bytes(), "rerun examples/make_reviews.py"

    with committed.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 300
    assert list(rows[0]) == ["review_id", "product", "rating", "title", "text", "label"]
    assert len({r["review_id"] for r in rows}) == 300
    assert {r["label"] for r in rows} == {"positive", "negative", "neutral"}
    label_word = re.compile(r"positive|negative|neutral", re.IGNORECASE)
    assert not any(label_word.search(r["title"] + " " + r["text"]) for r in rows)
    stars = {"positive": {"4", "5"}, "negative": {"1", "2"}, "neutral": {"3"}}
    assert all(r["rating"] in stars[r["label"]] for r in rows)
