"""Job figures for issue 9: the request spec and sources, shards, results, and a 10M-row job.

    python bench/bench_jobs.py [--repeat 3] [--only to_requests,encode_parquet,results,submit,e2e]
                               [--sizes 1000000] [--submit-sizes 1000000,3000000]
                               [--e2e-sizes 1000000,10000000] [--json out.json]

Every run is a fresh interpreter (``python bench/bench_jobs.py --child FIGURE JSON``); the server
runs in its own process (``python -m batchframe serve --speed 0 --db FILE``), so its CPU and
memory never count as the client's. Each figure is the median of ``--repeat`` runs, and every
ratio is against the docs-style baseline (``bench/baseline.py``) measured in the same run. The
machine is shared: wall times are noisy, CPU times (``getrusage``) steadier; both are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import baseline
from _measure import API_KEY, MODEL, PYTHON, make_frame, measure, median, server

HERE = pathlib.Path(__file__).resolve().parent


# -- figures, each run in a child process ------------------------------------------------------


def _client(base_url: str) -> Any:
    import batchframe as bf

    return bf.Client(api_key=API_KEY, base_url=base_url, timeout=600)


def fig_to_requests(n: int, impl: str) -> dict[str, Any]:
    """The public dry run: a pandas frame to one JSON body per row."""
    df = make_frame(n)
    if impl == "bf":
        import batchframe as bf

        def run() -> Any:
            return bf.to_requests(df, prompt="prompt", model=MODEL, id_column="id")
    else:

        def run() -> Any:
            return baseline.encode_chunks(baseline.build_requests(df, MODEL))

    run() if n <= 10_000 else None
    return measure(run).as_dict()


def fig_encode_parquet(n: int, impl: str) -> dict[str, Any]:
    """Encoding straight from a Parquet file (read as a stream of record batches)."""
    folder = tempfile.mkdtemp(prefix="bench-parquet-in-")
    path = os.path.join(folder, "in.parquet")
    make_frame(n).to_parquet(path)
    if impl == "bf":
        from batchframe.frame.encode import encode_source
        from batchframe.frame.sources import as_source
        from batchframe.frame.spec import RequestSpec

        spec = RequestSpec.build(prompt="prompt", model=MODEL, id_column="id")

        def run() -> int:
            return sum(len(p) for p in encode_source(spec, as_source(path)))
    else:
        import pandas as pd

        def run() -> int:
            df = pd.read_parquet(path)
            return len(baseline.encode_chunks(baseline.build_requests(df, MODEL)))

    run() if n <= 10_000 else None
    try:
        return measure(run).as_dict()
    finally:
        shutil.rmtree(folder)


def fig_prepare(n: int, base_url: str, manifests: str) -> dict[str, Any]:
    """A finished batch of ``n`` rows on the server (not timed), for the results figure."""
    import batchframe as bf

    job = bf.submit(
        make_frame(n), prompt="prompt", model=MODEL, id_column="id", client=_client(base_url),
        progress=False, manifest_dir=manifests, name=f"r{uuid.uuid4()}", cache=False,
    )  # fmt: skip
    job.wait(progress=False)
    return {"batch_id": job.batch_id}


def fig_results(n: int, impl: str, base_url: str, batch_id: str, manifests: str) -> dict[str, Any]:
    """``job.results()`` of a finished batch, joined onto the frame (or the baseline's merge).

    The job is attached first, untimed (its manifest check re-encodes the frame), as a user's
    job from ``submit`` or ``attach`` is; the figure is ``results()`` alone.
    """
    df = make_frame(n)
    if impl == "bf":
        import batchframe as bf

        job = bf.attach(batch_id, df, client=_client(base_url), manifest_dir=manifests)

        def run() -> Any:
            return job.results()
    else:

        def run() -> Any:
            return baseline.results(df, base_url, API_KEY, batch_id)

    sample = measure(run)
    out = sample.value
    ok = int((out["content"] == out["prompt"]).sum())
    return {**sample.as_dict(), "rows": len(out), "matching": ok}


def fig_submit(n: int, impl: str, base_url: str) -> dict[str, Any]:
    """``bf.submit`` with the default chunking and add-call budget (or the baseline loop)."""
    df = make_frame(n)
    if impl == "bf":
        import batchframe as bf

        client = _client(base_url)

        def run() -> str:
            job = bf.submit(
                df, prompt="prompt", model=MODEL, id_column="id", client=client, progress=False,
                manifest_dir=tempfile.mkdtemp(prefix="bench-m-"), name=f"s{uuid.uuid4()}",
                cache=False,
            )  # fmt: skip
            return ",".join(job.batch_ids)
    else:

        def run() -> str:
            return baseline.submit(df, base_url, API_KEY, MODEL)

    sample = measure(run)
    import httpx

    got = 0
    for batch_id in str(sample.value).split(","):
        state = httpx.get(
            f"{base_url}/batches/{batch_id}", headers={"Authorization": f"Bearer {API_KEY}"}
        )
        got += state.json()["state"]["num_requests"]
    return {**sample.as_dict(), "num_requests": got, "per_row_us": sample.wall / n * 1e6}


def _write_input(n: int, files: int, folder: str) -> None:
    """``n`` rows of 80-120 character prompts in ``files`` Parquet files (not kept in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    per = -(-n // files)
    for k in range(files):
        rows = min(per, n - k * per)
        frame = make_frame(rows, seed=1000 + k)
        table = pa.table({"prompt": pa.array(frame["prompt"]).cast(pa.large_string())})
        pq.write_table(table, os.path.join(folder, f"part-{k:03d}.parquet"), row_group_size=100_000)
        del frame, table


def fig_write_input(n: int, files: int, folder: str) -> dict[str, Any]:
    """The e2e input, written by a process of its own (its memory is not the client's)."""
    _write_input(n, files, folder)
    return {"files": files}


def fig_e2e(n: int, files: int, base_url: str, folder: str) -> dict[str, Any]:
    """A Parquet input of ``n`` rows through the server to one Parquet output; peak RSS.

    The process does nothing but the job (the input was written by another one), so its
    lifetime peak RSS (``ru_maxrss``) is the client's.
    """
    import batchframe as bf

    out = os.path.join(folder, "out", "results.parquet")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    job = bf.submit(
        os.path.join(folder, "part-*.parquet"), prompt="prompt", model=MODEL,
        client=_client(base_url), progress=False, manifest_dir=os.path.join(folder, "m"),
        cache=False,
    )  # fmt: skip
    phases["submit"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    job.wait(progress=False)
    phases["wait"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    job.to_parquet(out)
    phases["to_parquet"] = time.perf_counter() - t2
    phases["total"] = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB, before checking
    check = _check_output(out, folder, n)
    shutil.rmtree(folder)
    return {**phases, "peak_rss_mb": peak, "rss_at_start_mb": rss_before,
            "shards": len(job.batch_ids), **check}  # fmt: skip


def _check_output(out: str, folder: str, n: int) -> dict[str, Any]:
    """Every row once, in input order, content equal to prompt (read back batch by batch)."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    inputs = ds.dataset(sorted(str(p) for p in pathlib.Path(folder).glob("part-*.parquet")))
    outputs = pq.ParquetFile(out)
    rows = wrong_order = wrong_content = 0
    expected = iter(inputs.to_batches(columns=["prompt"]))
    pending = None
    for batch in outputs.iter_batches(columns=["prompt", "batch_request_id", "content"]):
        ids = batch.column("batch_request_id").cast("int64").to_numpy()
        wrong_order += int((ids != np.arange(rows, rows + len(ids))).sum())
        wrong_content += int(
            pc.sum(pc.not_equal(batch.column("content"), batch.column("prompt"))).as_py() or 0
        )
        take = len(ids)
        while take:  # the output's prompt column must be the input's, row for row
            pending = pending if pending is not None and len(pending) else next(expected).column(0)
            piece = min(take, len(pending))
            got = batch.column("prompt").slice(len(ids) - take, piece)
            wrong_content += int(pc.sum(pc.not_equal(got, pending.slice(0, piece))).as_py() or 0)
            pending, take = pending.slice(piece), take - piece
        rows += len(ids)
    return {"rows": rows, "rows_expected": n, "wrong_order": wrong_order,
            "wrong_content": wrong_content}  # fmt: skip


FIGURES: dict[str, Callable[..., dict[str, Any]]] = {
    "to_requests": fig_to_requests,
    "encode_parquet": fig_encode_parquet,
    "prepare": fig_prepare,
    "results": fig_results,
    "submit": fig_submit,
    "e2e": fig_e2e,
    "write_input": fig_write_input,
}


# -- the driver ------------------------------------------------------------------------------


def child(figure: str, args: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [PYTHON, str(HERE / "bench_jobs.py"), "--child", figure, json.dumps(args)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "BATCHFRAME_DISABLE_PROGRESS": "1"},
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{figure} {args} failed: {(proc.stderr or proc.stdout)[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def medians(samples: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(samples[-1])
    for key, value in samples[-1].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = median([float(s[key]) for s in samples])
    return out


class Table:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.raw: dict[str, Any] = {}

    def add(self, *cells: str) -> None:
        self.rows.append(list(cells))
        print("| " + " | ".join(cells) + " |", flush=True)


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}"


def run_local(table: Table, figure: str, sizes: list[int], repeat: int, target: float) -> None:
    for n in sizes:
        got = {impl: medians([child(figure, {"n": n, "impl": impl}) for _ in range(repeat)])
               for impl in ("bf", "baseline")}  # fmt: skip
        table.raw[f"{figure}-{n}"] = got
        ours, base = got["bf"], got["baseline"]
        wall, cpu = n / ours["wall"], n / ours["cpu"]
        table.add(
            f"{figure} {n:,} rows (rows/s: wall / CPU)",
            f"{wall:,.0f} / {cpu:,.0f}",
            f"{n / base['wall']:,.0f} / {n / base['cpu']:,.0f}",
            f"{base['wall'] / ours['wall']:.1f}x / {base['cpu'] / ours['cpu']:.1f}x",
            f">= {target:,.0f}/s",
            "yes" if wall >= target else ("cpu only" if cpu >= target else "**no**"),
        )
        table.add(f"{figure} {n:,}: peak RSS growth", f"{ours['rss_mb']:.0f} MB",
                  f"{base['rss_mb']:.0f} MB", "", "", "")  # fmt: skip


def run_results(table: Table, sizes: list[int], repeat: int) -> None:
    for n in sizes:
        folder = tempfile.mkdtemp(prefix="bench-results-")
        with server("--db", os.path.join(folder, "r.sqlite")) as proc:
            common = {"n": n, "base_url": proc.base_url, "manifests": folder}
            common["batch_id"] = child("prepare", common)["batch_id"]
            got = {impl: medians([child("results", {**common, "impl": impl}) for _ in range(repeat)])
                   for impl in ("bf", "baseline")}  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
        table.raw[f"results-{n}"] = got
        ours, base = got["bf"], got["baseline"]
        ratio = base["wall"] / ours["wall"]
        table.add(f"results() {n:,} (rows/s: wall / CPU)",
                  f"{n / ours['wall']:,.0f} / {n / ours['cpu']:,.0f}",
                  f"{n / base['wall']:,.0f} / {n / base['cpu']:,.0f}",
                  f"{ratio:.1f}x / {base['cpu'] / ours['cpu']:.1f}x", ">= 2x the baseline",
                  ("yes" if ratio >= 2 else "**no**") + f" ({ours['matching']:,.0f} rows match)")  # fmt: skip
        table.add(f"results() {n:,}: peak RSS growth", f"{ours['rss_mb']:.0f} MB",
                  f"{base['rss_mb']:.0f} MB", "", "", "")  # fmt: skip


def run_submit(table: Table, sizes: list[int], repeat: int) -> None:
    per_row: dict[int, float] = {}
    for n in sizes:
        got: dict[str, list[dict[str, Any]]] = {"bf": [], "baseline": []}
        for _ in range(repeat):
            for impl in got:
                db = os.path.join(tempfile.mkdtemp(prefix="bench-db-"), "s.sqlite")
                with server("--db", db) as proc:
                    got[impl].append(
                        child("submit", {"n": n, "impl": impl, "base_url": proc.base_url})
                    )
                shutil.rmtree(os.path.dirname(db), ignore_errors=True)
        ours, base = medians(got["bf"]), medians(got["baseline"])
        table.raw[f"submit-{n}"] = got
        per_row[n] = ours["per_row_us"]
        cpu_ratio = base["cpu"] / ours["cpu"]
        table.add(f"submit {n:,}: client CPU (s)", f"{ours['cpu']:.2f}", f"{base['cpu']:.2f}",
                  f"{cpu_ratio:.1f}x lower", ">= 3x lower",
                  ("yes" if cpu_ratio >= 3 else "**no**") + f" ({ours['num_requests']:,.0f} added)")  # fmt: skip
        table.add(f"submit {n:,}: wall (s), us per row", f"{ours['wall']:.1f}, {ours['per_row_us']:.2f}",
                  f"{base['wall']:.1f}, {base['per_row_us']:.2f}", "", "", "")  # fmt: skip
    if len(per_row) >= 2:
        small, big = min(per_row), max(per_row)
        ratio = per_row[big] / per_row[small]
        table.add(f"submit per-row time {big:,} / {small:,}", f"{ratio:.2f}x", "", "", "< 2x",
                  "yes" if ratio < 2 else "**no**")  # fmt: skip


def run_e2e(table: Table, sizes: list[int], repeat: int, files: int) -> None:
    peaks: dict[int, float] = {}
    for n in sizes:
        samples = []
        for _ in range(repeat):
            db = os.path.join(tempfile.mkdtemp(prefix="bench-db-"), "e.sqlite")
            folder = tempfile.mkdtemp(prefix="bench-e2e-")
            child("write_input", {"n": n, "files": files, "folder": folder})
            with server("--db", db) as proc:
                common = {"n": n, "files": files, "base_url": proc.base_url, "folder": folder}
                samples.append(child("e2e", common))
            shutil.rmtree(os.path.dirname(db), ignore_errors=True)
        got = medians(samples)
        table.raw[f"e2e-{n}"] = samples
        peaks[n] = got["peak_rss_mb"]
        exact = got["rows"] == n and got["wrong_order"] == 0 and got["wrong_content"] == 0
        table.add(f"Parquet {n:,} rows ({files} files) -> server -> Parquet: client peak RSS",
                  f"{got['peak_rss_mb']:,.0f} MB", "", "", "<= 1,500 MB",
                  ("yes" if got["peak_rss_mb"] <= 1500 else "**no**") + f"; {got['shards']:.0f} shards")  # fmt: skip
        table.add(f"  {n:,}: every row once, in order, content == prompt",
                  f"{got['rows']:,.0f} rows, {got['wrong_order']:.0f} out of order, "
                  f"{got['wrong_content']:.0f} wrong", "", "", "all", "yes" if exact else "**no**")  # fmt: skip
        table.add(f"  {n:,}: wall (s) submit / wait / to_parquet / total",
                  f"{got['submit']:.0f} / {got['wait']:.0f} / {got['to_parquet']:.0f} / "
                  f"{got['total']:.0f}", "", "", "", "")  # fmt: skip
    if len(peaks) >= 2:
        small, big = min(peaks), max(peaks)
        ratio = peaks[big] / peaks[small]
        table.add(f"peak RSS {big:,} / {small:,}", f"{ratio:.2f}x", "", "", "<= 1.3x",
                  "yes" if ratio <= 1.3 else "**no**")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("FIGURE", "JSON"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="to_requests,encode_parquet,results,submit,e2e")
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--submit-sizes", default="1000000,3000000")
    parser.add_argument("--e2e-sizes", default="1000000,10000000")
    parser.add_argument("--e2e-repeat", type=int, default=1)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--json", help="also write every sample here")
    args = parser.parse_args()
    if args.child:
        figure, raw = args.child
        print(json.dumps(FIGURES[figure](**json.loads(raw))), flush=True)
        return
    only = set(args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    table = Table()
    print("| figure | batchframe | baseline | ratio | target | met? |\n|---|---|---|---|---|---|")
    if "to_requests" in only:
        run_local(table, "to_requests", sizes, args.repeat, 1_000_000)
    if "encode_parquet" in only:
        run_local(table, "encode_parquet", sizes, args.repeat, 1_500_000)
    if "results" in only:
        run_results(table, sizes, args.repeat)
    if "submit" in only:
        run_submit(table, [int(s) for s in args.submit_sizes.split(",")], args.repeat)
    if "e2e" in only:
        run_e2e(table, [int(s) for s in args.e2e_sizes.split(",")], args.e2e_repeat, args.files)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(table.raw, indent=1))


if __name__ == "__main__":
    main()
