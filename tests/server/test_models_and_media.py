"""Only batch-enabled models are admitted (the whole add call fails), and the media kinds get
simulated results in the guide's shapes."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from srv_helpers import add, assert_error, chat_item, new_batch

from batchframe.server import BatchServer, ServerConfig

INVALID = "Client specified an invalid argument"


def state(api: httpx.Client, batch_id: str) -> dict[str, int]:
    return dict(api.get(f"/batches/{batch_id}").json()["state"])


def test_an_unsupported_model_fails_the_whole_call(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    other = chat_item("b")
    other["batch_request"]["chat_get_completion"]["model"] = "grok-4.5"
    body = assert_error(add(paused_api, batch_id, [chat_item("a"), other]), 400, INVALID)
    assert body["error"] == "Model grok-4.5 is not supported for batch processing."
    assert state(paused_api, batch_id)["num_requests"] == 0
    assert add(paused_api, batch_id, [chat_item("a")]).status_code == 200


def test_aliases_and_media_models_are_admitted(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    alias = chat_item("alias")
    alias["batch_request"]["chat_get_completion"]["model"] = "grok-4.20"
    image = media("img", "image_generation", "grok-imagine-image-quality")
    video = media("vid", "video_generation", "grok-imagine-video")
    assert add(paused_api, batch_id, [alias, image, video]).status_code == 200
    assert state(paused_api, batch_id)["num_requests"] == 3


def test_models_option_replaces_the_list() -> None:
    config = ServerConfig(models="grok-4.3, my-model")  # type: ignore[arg-type]
    assert config.models == ("grok-4.3", "my-model")
    with (
        BatchServer(models=("my-model",)) as server,
        httpx.Client(
            transport=server.transport(),
            base_url="http://t/v1",
            headers={"Authorization": "Bearer k"},
        ) as api,
    ):
        batch_id = new_batch(api)
        assert_error(add(api, batch_id, [chat_item("a")]), 400)  # grok-4.3 is not in the list
        mine = chat_item("b")
        mine["batch_request"]["chat_get_completion"]["model"] = "my-model"
        assert add(api, batch_id, [mine]).status_code == 200


def media(rid: str, kind: str, model: str, **fields: Any) -> dict[str, Any]:
    return {
        "batch_request_id": rid,
        "batch_request": {kind: {"model": model, "prompt": "a red fox in snow", **fields}},
    }


def run(api: httpx.Client, server: BatchServer, items: list[dict[str, Any]]) -> dict[str, Any]:
    batch_id = new_batch(api)
    assert add(api, batch_id, items).status_code == 200
    server.engine.step()
    results = api.get(f"/batches/{batch_id}/results").json()["results"]
    return {r["batch_request_id"]: r["batch_result"] for r in results}


def test_image_results_in_the_guides_shape(api: httpx.Client, batch_server: BatchServer) -> None:
    items = [
        media("gen", "image_generation", "grok-imagine-image", n=2),
        media(
            "edit",
            "image_edit",
            "grok-imagine-image",
            image={"url": "https://x/a.png", "type": "image_url"},
        ),
    ]
    results = run(api, batch_server, items)
    gen = results["gen"]["response"]["image_generation"]
    assert [set(d) for d in gen["data"]] == [{"url", "revised_prompt"}] * 2
    urls = [d["url"] for d in gen["data"]]
    assert len(set(urls)) == 2 and all(
        u.startswith("https://media.batchframe.invalid/images/") for u in urls
    )
    assert gen["model"] == "grok-imagine-image"
    assert gen["usage"]["cost_in_usd_ticks"] == 2 * 200 * 1_000_000
    edit = results["edit"]["response"]["image_generation"]  # edits come back under the same key
    assert edit["data"][0]["url"] not in urls
    again = run(api, batch_server, items[:1])["gen"]["response"]["image_generation"]
    assert [d["url"] for d in again["data"]] == urls  # deterministic


def test_video_results_in_the_guides_shape(api: httpx.Client, batch_server: BatchServer) -> None:
    items = [
        media("gen", "video_generation", "grok-imagine-video", duration=4),
        media("ext", "video_extension", "grok-imagine-video", video={"url": "https://x/v.mp4"}),
    ]
    results = run(api, batch_server, items)
    gen = results["gen"]["response"]["video_generation"]
    assert gen["video"]["url"].startswith("https://media.batchframe.invalid/videos/")
    assert gen["video"]["duration"] == 4 and gen["video"]["respect_moderation"] is True
    assert gen["usage"]["cost_in_usd_ticks"] == 4 * 500 * 1_000_000
    ext = results["ext"]["response"]["video_generation"]
    assert ext["video"]["duration"] == 6


def test_media_run_time_errors_are_rows(api: httpx.Client, batch_server: BatchServer) -> None:
    items = [
        {
            "batch_request_id": "noprompt",
            "batch_request": {"image_generation": {"model": "grok-imagine-image"}},
        },
        media("edit", "image_edit", "grok-imagine-image"),
        media("ext", "video_extension", "grok-imagine-video"),
        media("many", "image_generation", "grok-imagine-image", n=11),
        media("long", "video_generation", "grok-imagine-video", duration=99),
    ]
    results = run(api, batch_server, items)
    assert set(results) == {r["batch_request_id"] for r in items}
    assert all(set(r) == {"error"} and isinstance(r["error"], str) for r in results.values())
    assert "prompt" in results["noprompt"]["error"] and "image.url" in results["edit"]["error"]
    listed = api.get("/batches").json()["batches"][0]["state"]
    assert listed["num_error"] == 5


def test_media_request_metadata_endpoints(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    add(paused_api, batch_id, [media("i", "image_generation", "grok-imagine-image"),
                               media("v", "video_generation", "grok-imagine-video")])  # fmt: skip
    rows = paused_api.get(f"/batches/{batch_id}/requests").json()["batch_request_metadata"]
    assert [r["endpoint"] for r in rows] == [
        "xai_api.Image/GenerateImage",
        "xai_api.Video/GenerateVideo",
    ]
    assert orjson.loads(orjson.dumps(rows))[0]["model"] == "grok-imagine-image"
