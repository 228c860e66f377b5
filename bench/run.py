"""The Performance benchmark suite: every figure against a local server, one Markdown table.

    python bench/run.py [--rows 100000,1000000] [--repeat 3] [--quick] [--write-docs]

Each figure is the median of ``--repeat`` runs (``--quick``: 1), each run in a fresh
interpreter (``bench/_figures.py``); the server runs in its own process (``python -m
batchframe serve --speed 0``) so its CPU is never counted as the client's. The baseline
(``bench/baseline.py``) is the code a user writes from the xAI docs. The table goes to stdout
and, with ``--write-docs``, under the ``<!-- bench-table -->`` marker of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _measure import ServerProcess, median, run_child, server

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "performance.md"
MARK, END = "<!-- bench-table -->", "<!-- /bench-table -->"
GROUPS = ("encode", "submit", "results", "to_parquet", "pacing", "server", "e2e")
#: The size each target is stated at (added to the --rows list unless --rows is given).
SPEC = {"submit": [300_000], "results": [300_000], "to_parquet": [200_000, 1_000_000]}


@dataclass
class Row:
    figure: str
    ours: str
    base: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: str = "—"


def fmt(value: float, unit: str = "", digits: int = 2) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}{unit}"
    return f"{value:.{digits}f}{unit}"


def verdict(ok: bool | None, how: str = "") -> str:
    if ok is None:
        return "n/a"
    return ("yes" if ok else "**no**") + (f" ({how})" if how else "")


def k(n: int) -> str:
    return f"{n // 1000:,}k" if n < 1_000_000 else f"{n / 1e6:g}M"


class Suite:
    """Runs the figures and collects table rows and raw samples."""

    def __init__(self, repeat: int, log: Callable[[str], None]) -> None:
        self.repeat = repeat
        self.log = log
        self.rows: list[Row] = []
        self.raw: dict[str, Any] = {}
        self.errors: list[str] = []

    def runs(self, key: str, figure: str, args: dict[str, Any], times: int | None = None) -> Any:
        """``times`` fresh runs of ``figure``; median of every numeric field (None on error)."""
        samples = []
        for i in range(times or self.repeat):
            t0 = time.perf_counter()
            result = run_child(figure, args)
            self.log(f"  {key} run {i + 1}: {time.perf_counter() - t0:.1f}s {_short(result)}")
            if "error" in result:
                self.errors.append(f"{key}: {result['error']}")
                return None
            samples.append(result)
        self.raw[key] = samples
        merged = dict(samples[-1])
        for name, value in samples[-1].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                merged[name] = median([float(s[name]) for s in samples])
        return merged

    def missing(self, figure: str) -> None:
        self.rows.append(Row(figure, "error", "error", "—", "—", "**not measured**"))


def _short(result: dict[str, Any]) -> str:
    return json.dumps({a: (round(b, 3) if isinstance(b, float) else b) for a, b in result.items()})[
        :300
    ]


# -- figure groups ----------------------------------------------------------------------------


def run_encode(suite: Suite, sizes: list[int], _: argparse.Namespace) -> None:
    for n in sizes:
        ours = suite.runs(f"encode-bf-{n}", "encode", {"n": n, "impl": "bf"})
        base = suite.runs(f"encode-base-{n}", "encode", {"n": n, "impl": "baseline"})
        name = f"encode {k(n)} rows (rows/s)"
        if ours is None or base is None:
            suite.missing(name)
            continue
        rate, base_rate = n / ours["wall"], n / base["wall"]
        ratio = rate / base_rate
        ok = rate >= 1e6 and ratio >= 5
        suite.rows.append(
            Row(name, fmt(rate), fmt(base_rate), f"{ratio:.1f}x", ">= 1,000,000/s and >= 5x",
                verdict(ok, f"{rate / 1e6:.2f}M/s, {ratio:.1f}x"))
        )  # fmt: skip
        warm, base_warm = n / ours["wall_warm"], n / base["wall_warm"]
        suite.rows.append(
            Row(f"encode {k(n)}, 2nd call in the process (rows/s)", fmt(warm), fmt(base_warm),
                f"{warm / base_warm:.1f}x", "same",
                verdict(warm >= 1e6 and warm / base_warm >= 5, f"{warm / 1e6:.2f}M/s"))
        )  # fmt: skip
        suite.rows.append(
            Row(f"encode {k(n)}: peak RSS growth", fmt(ours["rss_mb"], " MB"),
                fmt(base["rss_mb"], " MB"), f"{base['rss_mb'] / max(ours['rss_mb'], 1e-9):.1f}x")
        )  # fmt: skip


def run_submit(suite: Suite, sizes: list[int], _: argparse.Namespace) -> None:
    for n in sizes:
        got: dict[str, list[dict[str, Any]]] = {"bf": [], "baseline": []}
        for impl in got:
            for _i in range(suite.repeat):
                with server() as proc:  # a fresh server: no run sees another run's batches
                    result = suite.runs(
                        f"submit-{impl}-{n}", "submit", {"n": n, "impl": impl,
                                                         "base_url": proc.base_url}, times=1
                    )  # fmt: skip
                if result is not None:
                    got[impl].append(result)
        name = f"submit {k(n)}: client CPU (s)"
        if not got["bf"] or not got["baseline"]:
            suite.missing(name)
            continue
        cpu = median([r["cpu"] for r in got["bf"]])
        base_cpu = median([r["cpu"] for r in got["baseline"]])
        wall = median([r["wall"] for r in got["bf"]])
        base_wall = median([r["wall"] for r in got["baseline"]])
        ratio = base_cpu / cpu
        added = min(r["num_requests"] for r in got["bf"])
        suite.rows.append(
            Row(name, fmt(cpu), fmt(base_cpu), f"{ratio:.1f}x lower", ">= 3x lower",
                verdict(ratio >= 3, f"{ratio:.1f}x") + ("" if added == n else f" [{added} added]"))
        )  # fmt: skip
        suite.rows.append(
            Row(f"submit {k(n)}: wall (s)", fmt(wall), fmt(base_wall), f"{base_wall / wall:.1f}x")
        )


def run_server_side(suite: Suite, sizes: dict[str, list[int]], args: argparse.Namespace) -> None:
    """Server figures, then results and to_parquet on the server that holds the finished batch."""
    wanted = sorted(set(sizes["server"]) | set(sizes["results"]) | set(sizes["to_parquet"]))
    growth: dict[int, float] = {}
    for n in wanted:
        times = suite.repeat if n in sizes["server"] else 1
        kept = None
        samples = []
        for i in range(times):
            proc = ServerProcess()
            result = suite.runs(f"server-{n}", "server", {"n": n, "base_url": proc.base_url}, 1)
            if result is not None:
                samples.append(result)
            if i < times - 1 or result is None:
                proc.stop()
            else:
                kept = (proc, result["batch_id"])
        if n in sizes["server"]:
            _server_rows(suite, n, samples)
        if kept is None:
            for group in ("results", "to_parquet"):
                if n in sizes[group]:
                    suite.missing(f"{group} {k(n)}")
            continue
        proc, batch_id = kept
        try:
            common = {"n": n, "base_url": proc.base_url, "batch_id": batch_id}
            if n in sizes["results"]:
                _results_rows(suite, n, common)
            if n in sizes["to_parquet"]:
                value = _parquet_rows(suite, n, common)
                if value is not None:
                    growth[n] = value
        finally:
            proc.stop()
    _growth_row(suite, growth)


def _server_rows(suite: Suite, n: int, samples: list[dict[str, Any]]) -> None:
    if not samples:
        suite.missing(f"server {k(n)}")
        return
    for field, label, target in (
        ("ingest_per_s", "ingest", 100_000),
        ("serve_per_s", "serve results", 100_000),
        ("process_per_s", "process (simulated model)", 50_000),
    ):
        value = median([s[field] for s in samples])
        suite.rows.append(
            Row(f"server {k(n)}: {label} (req/s)", fmt(value), "—", "—", f">= {target:,}/s",
                verdict(value >= target, f"{value / target:.2f}x target"))
        )  # fmt: skip


def _results_rows(suite: Suite, n: int, common: dict[str, Any]) -> None:
    ours = suite.runs(f"results-bf-{n}", "results", {**common, "impl": "bf"})
    base = suite.runs(f"results-base-{n}", "results", {**common, "impl": "baseline"})
    if ours is None or base is None:
        suite.missing(f"results {k(n)}")
        return
    wall_x, cpu_x = base["wall"] / ours["wall"], base["cpu"] / ours["cpu"]
    rows_ok = ours["rows"] == n and ours["content"] == n
    suite.rows.append(
        Row(f"results() {k(n)}: wall (s)", fmt(ours["wall"]), fmt(base["wall"]),
            f"{wall_x:.1f}x", ">= 1.5x", verdict(wall_x >= 1.5, f"{wall_x:.1f}x")
            + ("" if rows_ok else f" [{int(ours['content'])} rows with content]"))
    )  # fmt: skip
    suite.rows.append(
        Row(f"results() {k(n)}: client CPU (s)", fmt(ours["cpu"]), fmt(base["cpu"]),
            f"{cpu_x:.1f}x", ">= 2x", verdict(cpu_x >= 2, f"{cpu_x:.1f}x"))
    )  # fmt: skip
    suite.rows.append(
        Row(f"results() {k(n)}: peak RSS growth", fmt(ours["rss_mb"], " MB"),
            fmt(base["rss_mb"], " MB"), f"{base['rss_mb'] / max(ours['rss_mb'], 1e-9):.1f}x")
    )  # fmt: skip


def _parquet_rows(suite: Suite, n: int, common: dict[str, Any]) -> float | None:
    ours = suite.runs(f"parquet-bf-{n}", "parquet", {**common, "impl": "bf"})
    base = suite.runs(f"parquet-base-{n}", "parquet", {**common, "impl": "baseline"})
    if ours is None:
        suite.missing(f"to_parquet {k(n)}")
        return None
    base_mb = fmt(base["rss_mb"], " MB") if base else "error"
    ratio = f"{base['rss_mb'] / max(ours['rss_mb'], 1e-9):.1f}x" if base else "—"
    suite.rows.append(
        Row(f"to_parquet {k(n)}: peak RSS growth", fmt(ours["rss_mb"], " MB"), base_mb, ratio,
            "< 300 MB", verdict(ours["rss_mb"] < 300, f"{ours['rss_mb']:.0f} MB"))
    )  # fmt: skip
    suite.rows.append(
        Row(f"to_parquet {k(n)}: wall (s)", fmt(ours["wall"]),
            fmt(base["wall"]) if base else "error",
            f"{base['wall'] / ours['wall']:.1f}x" if base else "—")
    )  # fmt: skip
    return float(ours["rss_mb"])


def _growth_row(suite: Suite, growth: dict[int, float]) -> None:
    if len(growth) < 2:
        return
    small = 200_000 if 200_000 in growth else min(growth)
    big = max(growth)
    ratio = growth[big] / max(growth[small], 1e-9)
    suite.rows.append(
        Row(f"to_parquet RSS growth {k(big)} / {k(small)}", f"{ratio:.2f}x", "—", "—",
            "<= 1.5x", verdict(ratio <= 1.5, f"{ratio:.2f}x"))
    )  # fmt: skip


def run_pacing(suite: Suite, _: list[int], args: argparse.Namespace) -> None:
    rows, budget, chunk = args.pacing_rows, args.pacing_budget, 1000
    calls = -(-rows // chunk)
    with server("--add-calls-per-30s", str(budget)) as proc:
        result = suite.runs(
            "pacing", "pacing",
            {"rows": rows, "chunk": chunk, "budget": budget, "base_url": proc.base_url}, times=1,
        )  # fmt: skip
    name = f"pacing: {rows:,} rows, {calls} add calls, budget {budget:g}/30 s"
    if result is None:
        suite.missing(name)
        return
    util = result["utilisation"]
    failed = bool(result["failure"]) or result["calls_ok"] < calls
    if util != util:
        shown, ok = "budget not binding", None
    else:
        shown, ok = f"{util * 100:.0f}% of budget", util >= 0.9 and not failed
    suite.rows.append(
        Row(name, f"{shown}; {int(result['calls_429'])} calls got 429; span {result['span']:.1f}s "
            f"(ideal {result['ideal_span']:.0f}s)", "—", "—", ">= 90%, none fails for good",
            verdict(ok if not failed else False, "failed for good" if failed else ""))
    )  # fmt: skip


def run_e2e(suite: Suite, sizes: list[int], _: argparse.Namespace) -> None:
    for n in sizes:
        api = suite.runs(f"e2e-api-{n}", "e2e_api", {"n": n})
        if api is None:
            suite.missing(f"end to end {k(n)} (API)")
        else:
            phases = ", ".join(
                f"{p} {api[p]:.1f}" for p in ("encode", "upload", "processing", "results+write")
            )
            suite.rows.append(
                Row(f"end to end {k(n)}, Python API (s)", f"{api['total']:.1f} ({phases})",
                    target="report")
            )  # fmt: skip
            suite.rows.append(
                Row(f"end to end {k(n)}, Python API: peak RSS", fmt(api["peak_rss_mb"], " MB"),
                    target="report")
            )  # fmt: skip
        cli = suite.runs(f"e2e-cli-{n}", "e2e_cli", {"n": n})
        if cli is None:
            suite.missing(f"`batchframe run --local` {k(n)}")
            continue
        suite.rows.append(
            Row(f"`batchframe run --local` {k(n)}: wall (s), peak RSS",
                f"{cli['wall']:.1f} s, {fmt(cli['peak_rss_mb'], ' MB')}", target="report")
        )  # fmt: skip


# -- output -----------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = "| figure | batchframe | baseline | ratio | target | met? |\n|---|---|---|---|---|---|"
    body = [
        f"| {r.figure} | {r.ours} | {r.base} | {r.ratio} | {r.target} | {r.met} |" for r in rows
    ]
    return "\n".join([head, *body])


def machine() -> str:
    import importlib.metadata as md

    cpu = "unknown"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = pathlib.Path("/proc/meminfo").read_text().split()[1]
        ram = f"{int(mem) / 1024 / 1024:.1f} GiB"
    except OSError:
        ram = "unknown"
    libs = ", ".join(
        f"{name} {md.version(name)}"
        for name in ("batchframe", "pandas", "pyarrow", "httpx", "orjson", "uvicorn", "numpy")
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {ram} RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {libs}"
    )


def write_docs(text: str, command: str) -> None:
    doc = DOCS.read_text(encoding="utf-8")
    lines = doc.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("<!-- bench-table")), None)
    if start is None:
        lines += ["", MARK]
        start = len(lines) - 1
    end = next((i for i, ln in enumerate(lines) if ln.strip() == END), len(lines))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [
        MARK, "", f"Run on {stamp} with `{command}`.", "", f"Machine: {machine()}.", "", text, "",
        END,
    ]  # fmt: skip
    DOCS.write_text("\n".join([*lines[:start], *block, *lines[end + 1 :]]) + "\n", "utf-8")


def plan_sizes(args: argparse.Namespace) -> dict[str, list[int]]:
    given = [int(float(x)) for x in args.rows.split(",")] if args.rows else None
    base = given or [100_000, 1_000_000]
    sizes = {g: list(base) for g in GROUPS}
    if given is None:
        for group, extra in SPEC.items():
            sizes[group] = sorted(set(base) | set(extra))
    return sizes


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", help="comma-separated row counts [100000,1000000 + target sizes]")
    p.add_argument("--repeat", type=int, default=None, help="runs per figure [3; --quick: 1]")
    p.add_argument("--quick", action="store_true", help="1 run each; pacing 30,000 rows")
    p.add_argument("--only", help=f"comma-separated groups of {','.join(GROUPS)}")
    p.add_argument("--pacing-rows", type=int, default=None, help="[120000; --quick: 30000]")
    p.add_argument("--pacing-budget", type=float, default=None, help="calls/30 s [rows/2000]")
    p.add_argument("--write-docs", action="store_true", help="put the table in the docs")
    p.add_argument("--json", help="also write the raw samples here")
    args = p.parse_args(argv)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.pacing_rows = args.pacing_rows or (30_000 if args.quick else 120_000)
    # 2 calls per unit of budget (chunks of 1,000): the limiter must wait one full 30 s window.
    args.pacing_budget = args.pacing_budget or max(1.0, args.pacing_rows / 2000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = "python bench/run.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    groups = args.only.split(",") if args.only else list(GROUPS)
    sizes = plan_sizes(args)
    suite = Suite(args.repeat, lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.perf_counter()
    for group in GROUPS:
        if group not in groups or group in ("results", "to_parquet"):
            continue
        print(f"[{group}]", file=sys.stderr, flush=True)
        if group == "server":
            picked = {g: (sizes[g] if g in groups else []) for g in ("server", "results",
                                                                    "to_parquet")}  # fmt: skip
            run_server_side(suite, picked, args)
        else:
            {"encode": run_encode, "submit": run_submit, "pacing": run_pacing, "e2e": run_e2e}[
                group
            ](suite, sizes[group], args)
    if ("results" in groups or "to_parquet" in groups) and "server" not in groups:
        picked = {g: (sizes[g] if g in groups else []) for g in ("server", "results", "to_parquet")}
        run_server_side(suite, picked, args)
    text = table(suite.rows)
    print(text)
    print(f"\n({time.perf_counter() - started:.0f} s; {command})", file=sys.stderr)
    for error in suite.errors:
        print(f"error: {error}", file=sys.stderr)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(suite.raw, indent=1), "utf-8")
    if args.write_docs:
        write_docs(text, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
