"""The enum and field tables of the chat mapping, shared by both directions.

>>> EFFORT.text(EFFORT.number("high"))
'high'
"""

from __future__ import annotations

from xai_sdk.proto.v6 import chat_pb2, image_pb2, usage_pb2

from batchframe.server.grpc_front.wire import EnumMap

__all__ = [
    "AGENTS",
    "DETAIL",
    "EFFORT",
    "FLOATS",
    "FORMAT",
    "INCLUDE",
    "ROLES",
    "ROLE_NAMES",
    "SCALARS",
    "SEARCH_MODE",
    "SERVER_TOOLS",
    "SERVER_TOOL_FIELDS",
    "TIER",
    "TOOL_CALL_TYPE",
    "TOOL_MODE",
]

ROLES = EnumMap(
    "role",
    {
        chat_pb2.ROLE_USER: "user",
        chat_pb2.ROLE_ASSISTANT: "assistant",
        chat_pb2.ROLE_SYSTEM: "system",
        chat_pb2.ROLE_FUNCTION: "function",
        chat_pb2.ROLE_TOOL: "tool",
        chat_pb2.ROLE_DEVELOPER: "developer",
    },
)
ROLE_NAMES = ROLES.to_text
EFFORT = EnumMap(
    "reasoning_effort",
    {
        chat_pb2.EFFORT_NONE: "none",
        chat_pb2.EFFORT_LOW: "low",
        chat_pb2.EFFORT_MEDIUM: "medium",
        chat_pb2.EFFORT_HIGH: "high",
        chat_pb2.EFFORT_XHIGH: "xhigh",
    },
)
DETAIL = EnumMap(
    "detail",
    {image_pb2.DETAIL_AUTO: "auto", image_pb2.DETAIL_LOW: "low", image_pb2.DETAIL_HIGH: "high"},
)
TOOL_MODE = EnumMap(
    "tool_choice",
    {
        chat_pb2.TOOL_MODE_AUTO: "auto",
        chat_pb2.TOOL_MODE_NONE: "none",
        chat_pb2.TOOL_MODE_REQUIRED: "required",
    },
)
FORMAT = EnumMap(
    "response_format.type",
    {
        chat_pb2.FORMAT_TYPE_TEXT: "text",
        chat_pb2.FORMAT_TYPE_JSON_OBJECT: "json_object",
        chat_pb2.FORMAT_TYPE_JSON_SCHEMA: "json_schema",
    },
)
SEARCH_MODE = EnumMap(
    "search_parameters.mode",
    {
        chat_pb2.OFF_SEARCH_MODE: "off",
        chat_pb2.ON_SEARCH_MODE: "on",
        chat_pb2.AUTO_SEARCH_MODE: "auto",
    },
)
TIER = EnumMap(
    "service_tier",
    {usage_pb2.SERVICE_TIER_DEFAULT: "default", usage_pb2.SERVICE_TIER_PRIORITY: "priority"},
)
AGENTS = EnumMap("agent_count", {chat_pb2.AGENT_COUNT_4: "4", chat_pb2.AGENT_COUNT_16: "16"})
INCLUDE = EnumMap(
    "include",
    {
        value: name[len("INCLUDE_OPTION_") :].lower()
        for name, value in chat_pb2.IncludeOption.items()
        if value != chat_pb2.INCLUDE_OPTION_INVALID
    },
)
TOOL_CALL_TYPE = EnumMap(
    "tool_calls.type",
    {
        value: name[len("TOOL_CALL_TYPE_") :].lower()
        for name, value in chat_pb2.ToolCallType.items()
        if value != chat_pb2.TOOL_CALL_TYPE_INVALID
    },
)
# Server-side tools by their REST (Responses API) names; functions are handled on their own.
SERVER_TOOLS = {
    "web_search": "web_search",
    "x_search": "x_search",
    "code_execution": "code_interpreter",
    "collections_search": "file_search",
    "mcp": "mcp",
    "attachment_search": "attachment_search",
    "image_generation": "image_generation",
}
SERVER_TOOL_FIELDS = {rest: proto for proto, rest in SERVER_TOOLS.items()}
# Scalars kept under their own name; float32 ones read back as the shortest decimal.
SCALARS = (
    "n",
    "max_tokens",
    "seed",
    "temperature",
    "top_p",
    "logprobs",
    "top_logprobs",
    "frequency_penalty",
    "presence_penalty",
    "parallel_tool_calls",
    "previous_response_id",
    "store_messages",
    "use_encrypted_content",
    "max_turns",
    "safety_identifier",
    "user",
)
FLOATS = frozenset({"temperature", "top_p", "frequency_penalty", "presence_penalty"})
