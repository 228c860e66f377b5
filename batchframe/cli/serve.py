"""``batchframe serve``: the local batch server in the foreground."""

from __future__ import annotations

import click

from batchframe.cli.app import main

__all__ = ["serve"]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--db", default=":memory:", show_default=True, help="SQLite file (or :memory:).")
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Keys file: one 'key team' pair a line. Default: any key, one team.",
)
@click.option(
    "--speed",
    default=0.0,
    type=float,
    show_default=True,
    help="Requests processed per second (0 = as fast as it can).",
)
@click.option(
    "--fail-rate",
    default=0.0,
    type=float,
    show_default=True,
    help="Share of requests that end failed.",
)
@click.option(
    "--http-error-rate",
    default=0.0,
    type=float,
    show_default=True,
    help="Share of API calls answered 500 or 503.",
)
@click.option(
    "--drop-rate",
    default=0.0,
    type=float,
    show_default=True,
    help="Share of connections closed with no reply.",
)
@click.option(
    "--latency", default=0.0, type=float, show_default=True, help="Seconds added to each API call."
)
@click.option(
    "--add-calls-per-30s",
    type=float,
    default=None,
    help="Add-requests calls allowed per team per 30 s (429 past it).",
)
@click.option(
    "--creates-per-second",
    type=float,
    default=None,
    help="Batch creations allowed per team per second (429 past it).",
)
@click.option(
    "--max-body-mb",
    default=25.0,
    type=float,
    show_default=True,
    help="Largest request body in MB (413 past it).",
)
@click.option(
    "--time-format",
    type=click.Choice(["date", "rfc3339"]),
    default="date",
    show_default=True,
    help="How times are written.",
)
@click.option("--seed", type=int, default=None, help="Seed for faults and failures.")
@click.option(
    "--grpc-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also serve the gRPC API (xai-sdk) on this port; 0 picks a free one. Needs batchframe[grpc].",
)
@click.option(
    "--models",
    default=None,
    help="Batch-enabled models, comma-separated (others get 400). Default: grok-4.3, "
    "grok-4.20-0309-reasoning, grok-4.20-0309-non-reasoning, grok-4.20-multi-agent-0309, "
    "grok-imagine-image, grok-imagine-image-quality, grok-imagine-video.",
)
@click.option(
    "--max-file-mb",
    default=200.0,
    type=float,
    show_default=True,
    help="Largest JSONL file POST /v1/files takes, in MB (413 past it).",
)
@click.option(
    "--expire-after",
    default=30 * 86400.0,
    type=float,
    show_default=True,
    help="Seconds from a batch's creation to its expire_time; then what is unfinished is cancelled.",
)
@click.option(
    "--upstream",
    metavar="URL",
    default=None,
    help="Answer with an OpenAI-compatible model at URL (its /v1 base: vLLM, llama.cpp, Ollama, "
    "...) instead of the simulator.",
)
@click.option(
    "--upstream-api-key-env",
    metavar="VAR",
    default=None,
    help="Environment variable holding the upstream's API key (sent as a Bearer token).",
)
@click.option(
    "--upstream-concurrency",
    default=8,
    type=click.IntRange(min=1),
    show_default=True,
    help="Upstream calls in flight at once.",
)
@click.option(
    "--upstream-timeout",
    default=300.0,
    type=float,
    show_default=True,
    help="Seconds one upstream call may take.",
)
@click.option(
    "--upstream-retries",
    default=4,
    type=click.IntRange(min=0),
    show_default=True,
    help="Retries of an upstream call on 429, 5xx, timeouts and lost connections.",
)
@click.option(
    "--model-map",
    metavar="A=B,...",
    default=None,
    help="Upstream model for each requested model, e.g. grok-4.3=gemma-3-270m (* for any other).",
)
@click.option(
    "--upstream-price",
    metavar="MODEL=IN/OUT,...",
    default=None,
    help="USD per million prompt/completion tokens by requested model (default: cost 0).",
)
def serve(
    host: str,
    port: int,
    db: str,
    keys_file: str | None,
    speed: float,
    fail_rate: float,
    http_error_rate: float,
    drop_rate: float,
    latency: float,
    add_calls_per_30s: float | None,
    creates_per_second: float | None,
    max_body_mb: float,
    time_format: str,
    seed: int | None,
    grpc_port: int | None,
    models: str | None,
    max_file_mb: float,
    expire_after: float,
    upstream: str | None,
    upstream_api_key_env: str | None,
    upstream_concurrency: int,
    upstream_timeout: float,
    upstream_retries: int,
    model_map: str | None,
    upstream_price: str | None,
) -> None:
    """Run the local batch server (the xAI Batch REST API, offline).

    \b
    Example:
      batchframe serve --port 8000 --db batches.sqlite --speed 500
      export XAI_BASE_URL=http://127.0.0.1:8000/v1 XAI_API_KEY=local-key
      batchframe serve --port 8000 --grpc-port 50051   # xai_sdk.Client(api_host="localhost:50051")
      batchframe serve --upstream http://127.0.0.1:8080/v1 --model-map grok-4.3=gemma-3-270m
    """
    from batchframe.server.config import ServerConfig, load_keys, parse_models
    from batchframe.server.prices import DEFAULT_MODELS
    from batchframe.server.runner import run_forever
    from batchframe.server.upstream import UpstreamSettings

    try:
        config = ServerConfig(
            db=db,
            keys=load_keys(keys_file) if keys_file else None,
            speed=speed,
            fail_rate=fail_rate,
            http_error_rate=http_error_rate,
            drop_rate=drop_rate,
            latency=latency,
            add_calls_per_30s=add_calls_per_30s,
            creates_per_second=creates_per_second,
            max_body_mb=max_body_mb,
            time_format="rfc3339" if time_format == "rfc3339" else "date",
            seed=seed,
            grpc_port=grpc_port,
            models=parse_models(models) if models is not None else DEFAULT_MODELS,
            max_file_mb=max_file_mb,
            expire_after=expire_after,
            upstream=upstream,
            upstream_api_key_env=upstream_api_key_env,
            upstream_concurrency=upstream_concurrency,
            upstream_timeout=upstream_timeout,
            upstream_retries=upstream_retries,
            model_map=model_map,
            upstream_prices=upstream_price,
        )
        if config.upstream is not None:
            UpstreamSettings.from_config(config)  # the key's variable is set
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"batchframe local batch server on http://{shown}:{port}/v1", err=True)

    def announce(address: str) -> None:
        click.echo(
            f"gRPC API (xai-sdk) on {address}: xai_sdk.Client(api_host={address!r})", err=True
        )

    if config.upstream is not None:
        click.echo(
            f"answering with the upstream {config.upstream} "
            f"({config.upstream_concurrency} calls at once)",
            err=True,
        )
    run_forever(host, port, config, on_grpc=announce)
