"""The proto <-> REST mapping of chat and media requests, field by field, and of results."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from xai_sdk.proto.v6 import batch_pb2, chat_pb2, image_pb2, usage_pb2, video_pb2

from batchframe.server.errors import InvalidArgument
from batchframe.server.grpc_front.chat import completion_to_json
from batchframe.server.grpc_front.chat_back import json_to_completion
from batchframe.server.grpc_front.encode import encode_page, encode_result
from batchframe.server.grpc_front.requests import from_stored, to_stored
from batchframe.server.grpc_front.results import result_proto
from batchframe.server.model import simulate

DAY = 1_767_225_600  # 2026-01-01


def full_request() -> chat_pb2.GetCompletionsRequest:
    """A chat request with every field of the proto set."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    return chat_pb2.GetCompletionsRequest(
        model="grok-4.3",
        user="u-1",
        messages=[
            chat_pb2.Message(role=chat_pb2.ROLE_SYSTEM, content=[chat_pb2.Content(text="Be brief.")]),
            chat_pb2.Message(
                role=chat_pb2.ROLE_USER,
                name="ann",
                content=[
                    chat_pb2.Content(text="What is this?"),
                    chat_pb2.Content(image_url=image_pb2.ImageUrlContent(image_url="https://x/a.jpg", detail=image_pb2.DETAIL_HIGH)),
                    chat_pb2.Content(file=chat_pb2.FileContent(file_id="file_1", filename="a.pdf", url="https://x/a.pdf", data=b"\x00\x01", mime_type="application/pdf")),
                ],
            ),
            chat_pb2.Message(
                role=chat_pb2.ROLE_ASSISTANT,
                reasoning_content="thinking",
                encrypted_content="enc",
                tool_calls=[chat_pb2.ToolCall(id="call_1", type=chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL,
                                              function=chat_pb2.FunctionCall(name="lookup", arguments='{"q": "x"}'))],
            ),
            chat_pb2.Message(role=chat_pb2.ROLE_TOOL, tool_call_id="call_1", content=[chat_pb2.Content(text="42")]),
        ],
        n=2,
        max_tokens=100,
        seed=7,
        stop=["END", "STOP"],
        temperature=0.7,
        top_p=0.9,
        logprobs=True,
        top_logprobs=3,
        tools=[
            chat_pb2.Tool(function=chat_pb2.Function(name="lookup", description="Look up", strict=True,
                                                     parameters=orjson.dumps(schema).decode())),
            chat_pb2.Tool(web_search=chat_pb2.WebSearch(allowed_domains=["x.ai"], enable_image_understanding=True)),
            chat_pb2.Tool(x_search=chat_pb2.XSearch(allowed_x_handles=["xai"], from_date=Timestamp(seconds=DAY))),
            chat_pb2.Tool(code_execution=chat_pb2.CodeExecution()),
        ],
        tool_choice=chat_pb2.ToolChoice(mode=chat_pb2.TOOL_MODE_AUTO),
        response_format=chat_pb2.ResponseFormat(format_type=chat_pb2.FORMAT_TYPE_JSON_SCHEMA,
                                                schema=orjson.dumps(schema).decode()),
        frequency_penalty=0.5,
        presence_penalty=-0.25,
        reasoning_effort=chat_pb2.EFFORT_HIGH,
        search_parameters=chat_pb2.SearchParameters(
            mode=chat_pb2.AUTO_SEARCH_MODE,
            sources=[chat_pb2.Source(web=chat_pb2.WebSource(allowed_websites=["x.ai"], country="US", safe_search=True)),
                     chat_pb2.Source(x=chat_pb2.XSource(included_x_handles=["xai"], post_view_count=10)),
                     chat_pb2.Source(news=chat_pb2.NewsSource(country="DE")),
                     chat_pb2.Source(rss=chat_pb2.RssSource(links=["https://x/feed"]))],
            from_date=Timestamp(seconds=DAY),
            to_date=Timestamp(seconds=DAY + 86400),
            return_citations=True,
            max_search_results=5,
        ),
        parallel_tool_calls=False,
        previous_response_id="resp_1",
        store_messages=True,
        use_encrypted_content=True,
        max_turns=3,
        include=[chat_pb2.INCLUDE_OPTION_INLINE_CITATIONS, chat_pb2.INCLUDE_OPTION_WEB_SEARCH_CALL_OUTPUT],
        agent_count=chat_pb2.AGENT_COUNT_4,
        service_tier=usage_pb2.SERVICE_TIER_PRIORITY,
        safety_identifier="safe-1",
        guidelines=[chat_pb2.Guideline(policy=chat_pb2.PolicyGuideline(
            category=chat_pb2.GUIDELINE_CATEGORY_NSFW, behavior=chat_pb2.GUIDELINE_BEHAVIOR_DECLINE))],
    )  # fmt: skip


def test_every_field_of_a_chat_request_has_a_json_form() -> None:
    req = full_request()
    body = completion_to_json(req)
    set_fields = {field.name for field, _value in req.ListFields()}
    assert set_fields == set(chat_pb2.GetCompletionsRequest.DESCRIPTOR.fields_by_name)
    assert set(body) == set_fields
    assert json_to_completion(orjson.loads(orjson.dumps(body))) == req


def test_the_json_form_is_the_rest_body() -> None:
    body = completion_to_json(full_request())
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and body["presence_penalty"] == -0.25
    assert body["reasoning_effort"] == "high" and body["service_tier"] == "priority"
    assert body["stop"] == ["END", "STOP"] and body["agent_count"] == 4
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    user = body["messages"][1]
    assert user["content"][0] == {"type": "text", "text": "What is this?"}
    assert user["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "https://x/a.jpg", "detail": "high"},
    }
    assert (
        user["content"][2]["type"] == "file" and user["content"][2]["file"]["file_data"] == "AAE="
    )
    assistant = body["messages"][2]
    assert "content" not in assistant
    assert assistant["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "x"}'},
        }
    ]
    assert body["messages"][3] == {"role": "tool", "content": "42", "tool_call_id": "call_1"}
    function = body["tools"][0]
    assert function["type"] == "function" and function["function"]["parameters"]["required"] == [
        "city"
    ]
    assert body["tools"][1] == {
        "type": "web_search",
        "allowed_domains": ["x.ai"],
        "enable_image_understanding": True,
    }
    assert body["tools"][2]["type"] == "x_search" and body["tools"][3] == {
        "type": "code_interpreter"
    }
    assert body["tool_choice"] == "auto"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["city"]
    search = body["search_parameters"]
    assert (
        search["mode"] == "auto"
        and search["from_date"] == "2026-01-01"
        and search["to_date"] == "2026-01-02"
    )
    assert search["sources"][0] == {
        "type": "web",
        "allowed_websites": ["x.ai"],
        "country": "US",
        "safe_search": True,
    }
    assert search["sources"][1] == {
        "type": "x",
        "included_x_handles": ["xai"],
        "post_view_count": 10,
    }
    assert body["include"] == ["inline_citations", "web_search_call_output"]


def test_the_simulator_answers_a_mapped_request() -> None:
    body = completion_to_json(full_request())
    body["response_format"] = {"type": "text"}
    body.pop("n")
    ok, item = simulate("x", "chat_get_completion", body)
    assert ok, item
    result = result_proto(item)
    assert result.response.completion_response.outputs[0].message.content == "What is this?"


def test_a_named_tool_choice_and_other_formats_round_trip() -> None:
    for choice in (
        chat_pb2.ToolChoice(function_name="lookup"),
        chat_pb2.ToolChoice(mode=chat_pb2.TOOL_MODE_REQUIRED),
    ):
        req = chat_pb2.GetCompletionsRequest(model="m", tool_choice=choice)
        assert json_to_completion(completion_to_json(req)) == req
    for kind in (chat_pb2.FORMAT_TYPE_TEXT, chat_pb2.FORMAT_TYPE_JSON_OBJECT):
        req = chat_pb2.GetCompletionsRequest(
            model="m", response_format=chat_pb2.ResponseFormat(format_type=kind)
        )
        assert json_to_completion(completion_to_json(req)) == req
    rest = {
        "model": "m",
        "messages": [],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
    }
    assert json_to_completion(rest).tool_choice.function_name == "f"


def varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


@pytest.mark.parametrize(
    ("field", "value"),
    [("reasoning_effort", 99), ("service_tier", 42), ("agent_count", 7)],
)
def test_unknown_enum_values_are_invalid_arguments(field: str, value: int) -> None:
    raw = chat_pb2.GetCompletionsRequest(model="m")
    descriptor = chat_pb2.GetCompletionsRequest.DESCRIPTOR.fields_by_name[field]
    # a peer with a newer proto sends a number this one has no name for
    wire = raw.SerializeToString() + varint(descriptor.number << 3) + varint(value)
    parsed = chat_pb2.GetCompletionsRequest.FromString(wire)
    with pytest.raises(InvalidArgument, match=field):
        completion_to_json(parsed)


def test_unknown_role_and_detail_are_invalid_arguments() -> None:
    role = chat_pb2.Message(content=[chat_pb2.Content(text="x")])  # INVALID_ROLE
    with pytest.raises(InvalidArgument, match="role"):
        completion_to_json(chat_pb2.GetCompletionsRequest(model="m", messages=[role]))
    with pytest.raises(InvalidArgument, match="parameters"):
        completion_to_json(chat_pb2.GetCompletionsRequest(
            model="m", tools=[chat_pb2.Tool(function=chat_pb2.Function(name="f", parameters="{not json"))]))  # fmt: skip
    for bad in ({"role": "wizard"}, {"role": "user", "content": [{"type": "hologram"}]}):
        with pytest.raises(InvalidArgument):
            json_to_completion({"model": "m", "messages": [bad]})
    with pytest.raises(InvalidArgument):
        json_to_completion({"model": "m", "temperature": "hot"})


MEDIA = [
    batch_pb2.BatchRequest(batch_request_id="gen", image_request=image_pb2.GenerateImageRequest(
        prompt="a fox", model="grok-imagine-image", n=2, user="u", format=image_pb2.IMG_FORMAT_URL,
        quality=image_pb2.IMG_QUALITY_HIGH, aspect_ratio=image_pb2.IMG_ASPECT_RATIO_9_19_5,
        resolution=image_pb2.IMG_RESOLUTION_2K)),
    batch_pb2.BatchRequest(batch_request_id="edit", image_request=image_pb2.GenerateImageRequest(
        prompt="bluer", model="grok-imagine-image", image=image_pb2.ImageUrlContent(image_url="https://x/a.png"),
        images=[image_pb2.ImageUrlContent(image_url="https://x/b.png")])),
    batch_pb2.BatchRequest(batch_request_id="vid", video_request=video_pb2.GenerateVideoRequest(
        prompt="a fox", model="grok-imagine-video", duration=5, aspect_ratio=video_pb2.VIDEO_ASPECT_RATIO_16_9,
        resolution=video_pb2.VIDEO_RESOLUTION_720P, image=image_pb2.ImageUrlContent(image_url="https://x/s.png"),
        generate_audio=True, keyframes=[video_pb2.VideoKeyframe(timestamp_s=1.5)])),
    batch_pb2.BatchRequest(batch_request_id="ext", video_extension_request=video_pb2.ExtendVideoRequest(
        prompt="more", model="grok-imagine-video", duration=4, video=video_pb2.VideoUrlContent(url="https://x/v.mp4"))),
]  # fmt: skip


@pytest.mark.parametrize("item", MEDIA, ids=[m.batch_request_id for m in MEDIA])
def test_media_requests_round_trip(item: batch_pb2.BatchRequest) -> None:
    rid, kind, model, canon = to_stored(item)
    assert rid == item.batch_request_id and model.startswith("grok-imagine")
    assert from_stored(rid, kind, canon) == item


def test_media_json_forms() -> None:
    stored: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in MEDIA:
        rid, kind, _model, canon = to_stored(item)
        stored[rid] = (kind, orjson.loads(canon)[kind])
    kind, gen = stored["gen"]
    assert kind == "image_generation"
    assert (gen["response_format"], gen["quality"], gen["aspect_ratio"], gen["resolution"]) == (
        "url",
        "high",
        "9:19.5",
        "2k",
    )
    kind, edit = stored["edit"]
    assert kind == "image_edit" and edit["image"] == {"url": "https://x/a.png", "type": "image_url"}
    kind, vid = stored["vid"]
    assert kind == "video_generation" and (vid["aspect_ratio"], vid["resolution"]) == (
        "16:9",
        "720p",
    )
    assert stored["ext"] == ("video_extension", {"prompt": "more", "video": {"url": "https://x/v.mp4"},
                                                 "model": "grok-imagine-video", "duration": 4})  # fmt: skip


def test_results_map_to_protos() -> None:
    body = {"id": "c1", "object": "chat.completion", "created": DAY, "model": "grok-4.3",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "reasoning_content": "r",
                                                 "tool_calls": [{"id": "t", "type": "function",
                                                                 "function": {"name": "f", "arguments": "{}"}}]},
                         "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 10,
                      "prompt_tokens_details": {"text_tokens": 5, "cached_tokens": 3, "image_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 3}, "num_sources_used": 1,
                      "cost_in_usd_ticks": 123},
            "citations": ["https://x"], "system_fingerprint": "fp"}  # fmt: skip
    item = orjson.dumps(
        {"batch_request_id": "a", "batch_result": {"response": {"chat_get_completion": body}}}
    )
    result = result_proto(item)
    response = result.response.completion_response
    assert (response.id, response.model, response.created.seconds) == ("c1", "grok-4.3", DAY)
    output = response.outputs[0]
    assert (
        output.finish_reason == 4 and output.message.reasoning_content == "r"
    )  # REASON_TOOL_CALLS
    assert output.message.tool_calls[0].function.name == "f"
    usage = response.usage
    assert (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.reasoning_tokens,
        usage.total_tokens,
    ) == (5, 2, 3, 10)
    assert (usage.cached_prompt_text_tokens, usage.num_sources_used, usage.cost_in_usd_ticks) == (
        3,
        1,
        123,
    )
    assert list(response.citations) == ["https://x"]
    huge = {**body, "usage": {"prompt_tokens": 2**40}}
    unreadable = result_proto(
        orjson.dumps(
            {"batch_request_id": "h", "batch_result": {"response": {"chat_get_completion": huge}}}
        )
    )
    assert unreadable.error.code != 0 and "int32" in unreadable.error.message
    error = result_proto(
        b'{"batch_request_id":"e","batch_result":{"error":{"code":3,"message":"bad"}}}'
    )
    assert (error.error.code, error.error.message) == (2, "3: bad")


def simulated_items() -> list[bytes]:
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("chat_get_completion", {"model": "grok-4.3", "messages": [{"role": "user", "content": "héllo ☕"}]}),
        ("chat_get_completion", {"model": "grok-4.3", "messages": [{"role": "user", "content": ""}]}),
        ("chat_get_completion", {"model": "grok-4.3", "messages": [{"role": "user", "content": "x" * 20_000}],
                                 "reasoning_effort": "high", "max_tokens": 3000}),
        ("chat_get_completion", {"model": "grok-4.3", "messages": [], "max_tokens": -1}),
        ("responses", {"model": "grok-4.20", "input": "hey"}),
        ("image_generation", {"model": "grok-imagine-image", "prompt": "p", "n": 3}),
        ("video_generation", {"model": "grok-imagine-video", "prompt": "p"}),
    ]  # fmt: skip
    return [simulate(f"r{i}", kind, body, now=DAY)[1] for i, (kind, body) in enumerate(bodies)]


HANDMADE = [
    b'{"batch_request_id":"c","batch_result":{"error":"Batch cancelled"}}',
    b'{"batch_request_id":"o","batch_result":{"error":{"code":3,"message":"m"}}}',
    b'{"batch_request_id":"t","batch_result":{"response":{"chat_get_completion":{"choices":[{"index":0,'
    b'"message":{"role":"assistant","content":null,"tool_calls":[{"id":"1","function":{"name":"f",'
    b'"arguments":"{}"}}]},"finish_reason":"tool_calls"}]}}}}',
    b'{"batch_request_id":"u","batch_result":{"response":{"chat_get_completion":{"choices":[],'
    b'"usage":{"prompt_tokens":1.0,"prompt_tokens_details":[]}}}}}',
    b'{"batch_request_id":"n","batch_result":{"response":{"chat_get_completion":{"created":-5,'
    b'"usage":{"cost_in_usd_ticks":-3,"completion_tokens":99999}}}}}',
    b'{"batch_request_id":"z","batch_result":{"response":{"chat_get_completion":{"choices":['
    b'{"index":2,"message":{"role":"assistant","content":"a","reasoning_content":"b"},"finish_reason":"length"}],'
    b'"usage":{"total_tokens":0,"cost_in_usd_ticks":0}}}}}',
]


@pytest.mark.parametrize("item", simulated_items() + HANDMADE)
def test_the_fast_page_encoder_matches_the_reference_mapping(item: bytes) -> None:
    assert batch_pb2.BatchResult.FromString(encode_result(item)) == result_proto(item)


def test_a_page_encodes_its_results_and_token() -> None:
    items = simulated_items()
    page = batch_pb2.ListBatchResultsResponse.FromString(encode_page(items, "tok"))
    assert list(page.results) == [result_proto(i) for i in items] and page.pagination_token == "tok"
    last = batch_pb2.ListBatchResultsResponse.FromString(encode_page(items[:1], None))
    assert not last.HasField("pagination_token")
