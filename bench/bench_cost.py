"""Cost figures for issue 10: what dedup and the cache add to submit, what a cached rerun saves,
and how fast and close ``bf.estimate`` is.

    python bench/bench_cost.py [--rows 1000000] [--repeat 3]

The server runs in its own process (``python -m batchframe serve --speed 0 --db FILE``), so its
CPU never counts as the client's. Every figure is the median of ``--repeat`` runs; each ratio is
against a baseline measured in the same run:

- submit with the cache on (and empty) and dedup on, against the same submit with
  ``cache=False, dedup=False`` (client CPU; target: at most 1.3x);
- ``results()`` of a rerun that the cache answers whole (no batch created), against the first
  run's ``results()`` (wall; target: at least 3x faster);
- ``estimate`` on every row (client CPU; target: a few seconds) and its prompt-token figure
  against the true total the server counted (target: within 5%).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _measure import API_KEY, MODEL, make_frame, measure, median, server


def _client(base_url: str) -> Any:
    import batchframe as bf

    return bf.Client(api_key=API_KEY, base_url=base_url, timeout=600)


def _submit(df: Any, client: Any, folder: str, **kw: Any) -> Any:
    import batchframe as bf

    return bf.submit(
        df, prompt="prompt", model=MODEL, id_column="id", client=client, progress=False,
        manifest_dir=os.path.join(folder, "m"), name=f"cost-{uuid.uuid4().hex[:10]}", **kw,
    )  # fmt: skip


def submit_figures(df: Any, repeat: int, folder: str) -> tuple[list[float], list[float]]:
    """Client CPU of submit: (cache off + dedup off, cache on and empty + dedup on)."""
    plain, reusing = [], []
    for k in range(repeat):
        with server("--db", os.path.join(folder, f"s{k}.sqlite")) as srv:
            client = _client(srv.base_url)

            def plain_submit(client: Any = client) -> Any:
                return _submit(df, client, folder, cache=False, dedup=False)

            def reusing_submit(client: Any = client, k: int = k) -> Any:
                cache = os.path.join(folder, f"empty-{k}.sqlite")
                return _submit(df, client, folder, cache=cache)

            plain.append(measure(plain_submit).cpu)
            reusing.append(measure(reusing_submit).cpu)
            client.close()
    return plain, reusing


def rerun_figures(df: Any, repeat: int, folder: str) -> dict[str, Any]:
    """Per repetition, with a fresh cache file: a first run's results() (it stores the answers),
    a plain results() of a job without the cache (for reference), and the results() of a rerun
    the cache answers whole; then estimate's CPU and its prompt tokens against the true total."""
    import batchframe as bf

    first_wall, first_cpu, plain_wall, cached_wall, cached_cpu = [], [], [], [], []
    true_tokens = 0
    with server("--db", os.path.join(folder, "rerun-server.sqlite")) as srv:
        client = _client(srv.base_url)
        for k in range(repeat):
            cache = os.path.join(folder, f"rerun-{k}.sqlite")
            first = _submit(df, client, folder, cache=cache)
            first.wait(progress=False)
            sample = measure(first.results)  # the first read: it fills the cache
            first_wall.append(sample.wall)
            first_cpu.append(sample.cpu)
            true_tokens = int(sample.value["prompt_tokens"].sum())
            del sample
            plain_wall.append(measure(first.results).wall)  # answers stored already: a plain read
            again = _submit(df, client, folder, cache=cache)
            assert again.batch_ids == (), "the rerun created a batch"
            sample = measure(again.results)
            assert (sample.value["origin"] == "cache").all()
            cached_wall.append(sample.wall)
            cached_cpu.append(sample.cpu)
            del sample
        est_cpu, est_wall, figure, sampled = [], [], 0, 0
        for _ in range(repeat):
            sample = measure(
                lambda: bf.estimate(
                    df, prompt="prompt", model=MODEL, id_column="id", client=client, cache=False
                )
            )
            est_cpu.append(sample.cpu)
            est_wall.append(sample.wall)
            figure, sampled = sample.value.prompt_tokens, sample.value.sample_size
        client.close()
    return {
        "first_wall": median(first_wall),
        "first_cpu": median(first_cpu),
        "plain_wall": median(plain_wall),
        "cached_wall": median(cached_wall),
        "cached_cpu": median(cached_cpu),
        "est_cpu": median(est_cpu),
        "est_wall": median(est_wall),
        "est_tokens": figure,
        "true_tokens": true_tokens,
        "sample": sampled,
    }


def row(figure: str, ours: str, base: str, ratio: str, target: str, met: bool) -> str:
    return f"| {figure} | {ours} | {base} | {ratio} | {target} | {'yes' if met else 'NO'} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.rows
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as folder:
        os.environ["BATCHFRAME_HOME"] = os.path.join(folder, "home")  # never the user's cache
        df = make_frame(n)
        plain, reusing = submit_figures(df, args.repeat, folder)
        rerun = rerun_figures(df, args.repeat, folder)
    p, r = median(plain), median(reusing)
    speedup = rerun["first_wall"] / rerun["cached_wall"]
    error = abs(rerun["est_tokens"] - rerun["true_tokens"]) / max(rerun["true_tokens"], 1)
    k = f"{n:,}"
    print("| figure | batchframe | baseline | ratio | target | met? |")
    print("|---|---|---|---|---|---|")
    print(row(f"submit {k}, cache on and empty + dedup: client CPU (s)", f"{r:.2f}",
              f"{p:.2f} (cache=False, dedup=False)", f"{r / p:.2f}x", "<= 1.3x", r / p <= 1.3))  # fmt: skip
    print(row(f"results() {k}, fully cached rerun, no batch: wall (s)",
              f"{rerun['cached_wall']:.2f} (CPU {rerun['cached_cpu']:.2f})",
              f"{rerun['first_wall']:.2f} (first run; CPU {rerun['first_cpu']:.2f})",
              f"{speedup:.1f}x faster", ">= 3x", speedup >= 3))  # fmt: skip
    versus_plain = rerun["plain_wall"] / rerun["cached_wall"]
    print(row(f"results() {k}, fully cached rerun vs a plain read of the batch: wall (s)",
              f"{rerun['cached_wall']:.2f}", f"{rerun['plain_wall']:.2f} (answers already stored)",
              f"{versus_plain:.1f}x faster", "(reference)", True))  # fmt: skip
    print(row(f"estimate {k}: client CPU (s)", f"{rerun['est_cpu']:.2f}",
              f"wall {rerun['est_wall']:.2f}", "-", "a few seconds", rerun["est_cpu"] <= 5))  # fmt: skip
    print(row(f"estimate {k}: prompt tokens ({rerun['sample']:,} tokenized)",
              f"{rerun['est_tokens']:,}", f"{rerun['true_tokens']:,} (server's count)",
              f"{error:.2%} off", "within 5%", error <= 0.05))  # fmt: skip
    print(f"\nraw: plain submit CPU {plain}, reusing {reusing}", file=sys.stderr)


if __name__ == "__main__":
    main()
