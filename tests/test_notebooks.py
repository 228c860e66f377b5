"""Run every notebook in notebooks/ top to bottom on this interpreter and check what it showed.

Each notebook starts its own local server (``bf.serve()``), so no key and no network. The kernel
is a kernelspec written for ``sys.executable`` into a temp dir, so the run never depends on a
machine-wide Jupyter install.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

import nbclient
import nbformat
import pytest
from ipykernel import kernelspec

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = "batchframe-tests"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A Jupyter data dir holding one kernelspec that runs this very interpreter."""
    prefix = tmp_path_factory.mktemp("jupyter")
    kernelspec.install(kernel_name=KERNEL, prefix=str(prefix))
    return prefix / "share" / "jupyter"


def run_notebook(
    name: str, kernel_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch, timeout: int = 120
) -> Any:
    """Execute ``notebooks/<name>`` with its cwd in notebooks/; return the executed notebook.

    ``timeout`` is seconds per cell."""
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.delenv("BATCHFRAME_DISABLE_PROGRESS", raising=False)  # bars are in the tour
    # Manifests go to BATCHFRAME_HOME (a temp dir here), never the user's data directory.
    monkeypatch.setenv("BATCHFRAME_HOME", str(kernel_dir.parent / "batchframe-home"))
    monkeypatch.delenv("XAI_API_KEY", raising=False)  # proves the notebooks need no key
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=timeout,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError on the first cell that fails
    return nb


def outputs(nb: Any) -> list[dict[str, Any]]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def text_of(nb: Any) -> str:
    """Everything the notebook printed or displayed as text or HTML, joined."""
    parts: list[str] = []
    for out in outputs(nb):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
            parts.append(out.data.get("text/html", ""))
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
    return "\n".join(parts)


def html_outputs(nb: Any) -> list[str]:
    return [
        out.data["text/html"]
        for out in outputs(nb)
        if out.output_type in ("execute_result", "display_data") and "text/html" in out.data
    ]


def assert_clean(nb: Any) -> None:
    errors = [out for out in outputs(nb) if out.output_type == "error"]
    assert errors == []
    assert not (NOTEBOOKS / ".batchframe").exists(), "a notebook left manifests in notebooks/"


def test_notebooks_are_committed_without_outputs() -> None:
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert len(names) >= 3
    for name in names:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


def test_quickstart(kernel_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run_notebook("01-quickstart.ipynb", kernel_dir, monkeypatch)
    assert_clean(nb)
    text = text_of(nb)
    # 300 reviews x (6 input columns + 14 result columns), and the same table back from Parquet.
    assert "(300, 20)" in text
    assert "reviews.parquet (300, 20)" in text
    # The Job's HTML summary: name, batch ID, a progress bar at 286/286, the counts (14 of
    # the 300 reviews repeat another's text: dedup sends each request once).
    (batch_id,) = set(re.findall(r"batch_[0-9a-f-]{36}", text))
    summaries = [h for h in html_outputs(nb) if "batchframe Job" in h]
    assert len(summaries) == 1
    summary = summaries[0]
    assert "reviews-quickstart" in summary and batch_id in summary
    assert '<progress value="286" max="286">' in summary
    assert "ok=286, failed=0" in summary
    # The plot rendered inline.
    images = [o for o in outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) == 1


@pytest.mark.xdist_group("llama")  # its llama.cpp never runs beside the real-model tests' one
def test_offline_evaluation(kernel_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 600 s a cell: the real model's cell runs 30 generations on a CPU that the suite shares.
    nb = run_notebook("02-offline-evaluation.ipynb", kernel_dir, monkeypatch, timeout=600)
    assert_clean(nb)
    text = text_of(nb)
    assert "states: {'succeeded': 300}" in text
    # The real small model ran (the dev extra installs it; missing, this fails, never skips):
    # every row answered, and its accuracy beside the echo baseline's on the same 30 rows.
    assert "real model installed: True" in text
    assert "real model states: {'succeeded': 30}" in text
    scores = next(h for h in html_outputs(nb) if "simulator (echo baseline)" in h)
    assert "gemma-3-270m (llama.cpp)" in scores and "accuracy" in scores
    assert "parse errors: 0" in text
    html = "\n".join(html_outputs(nb))
    # The accuracy table: one row per product and the overall row.
    assert "(all products)" in html and "accuracy" in html
    for product in ("Espresso Machine", "Desk Lamp", "Yoga Mat"):
        assert product in html
    # The confusion matrix, with margins.
    assert "predicted" in html and "gold" in html and "All" in html
    # (then ", duplicates=1, ...": examples/reviews.csv repeats one review, sent once)
    assert re.search(r"CostSummary\(rows=300, succeeded=300, .*cost_usd=\$0\.\d+[,)]", text)
    # The rerun with 10% new rows: the estimate and the server agree that only those are sent.
    assert "30 requests to send of 330 rows (0 duplicates, 300 cached" in text
    assert "requests the server received: 30 of 330 rows" in text
    assert "origin: {'cache': 300, 'batch': 30}" in text
    assert "paid only for the new rows: True" in text


def test_large_job(kernel_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run_notebook("03-large-job.ipynb", kernel_dir, monkeypatch)
    assert_clean(nb)
    text = text_of(nb)
    submitted = re.search(r"^submitted: (batch_\S+)$", text, re.M)
    reattached = re.search(r"^reattached: (batch_\S+)$", text, re.M)
    attached = re.search(r"^attached: (batch_\S+)$", text, re.M)
    assert submitted and reattached and attached
    assert submitted[1] == reattached[1] == attached[1]
    # Four Parquet files, four shards named tickets-20k, tickets-20k#2, ...
    assert "4 shards: ['tickets-20k', 'tickets-20k#2', 'tickets-20k#3', 'tickets-20k#4']" in text
    # The streamed file has every row, beside its own answer, some failed on the first pass;
    # the retry took exactly those rows, and its results still have every ticket.
    assert "20000 rows," in text
    first = re.search(r"\{'succeeded': (\d+), 'failed': (\d+)\}", text)
    assert first and int(first[1]) + int(first[2]) == 20_000 and int(first[2]) > 0
    assert re.search(rf"tickets-20k-retry-1 {first[2]} rows sent again; 20000 rows back", text)
    final = re.search(r"after the retry: \{'succeeded': (\d+)(?:, 'failed': (\d+))?\}", text)
    assert final and int(final[1]) > int(first[1])
    assert int(final[1]) + int(final[2] or 0) == 20_000
    assert re.search(r"\n20000 \{'succeeded'", text)  # the retry's to_parquet: every row
