"""A deterministic JSON instance that validates against a JSON schema (for the simulated model).

Covers what structured-output schemas use: objects, required fields, strings, numbers,
integers, booleans, null, arrays, enum/const (``Literal``), ``anyOf``/``oneOf`` (nullable
fields), ``allOf``, and ``$defs``/``definitions`` with local ``$ref``.

An enum of strings takes the value that appears (case-insensitive, as a word) in the prompt if
exactly one does, else one picked by a stable hash of the prompt.

>>> schema = {"type": "object", "properties": {"label": {"enum": ["positive", "negative"]}},
...           "required": ["label"]}
>>> instance_for(schema, "This was a negative experience")
{'label': 'negative'}
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

__all__ = ["instance_for"]

_MAX_DEPTH = 12
#: Values, and ``minLength`` characters, one instance may hold: nested ``minItems`` (50 in 4
#: levels is 6 million values) or a huge ``minLength`` stalled the engine or exhausted memory.
#: Past them the request fails with an error instead.
_MAX_VALUES = 10_000
_MAX_CHARS = 1_000_000


def instance_for(schema: Any, prompt: str) -> Any:
    """Return a JSON value valid against ``schema``, chosen deterministically from ``prompt``."""
    root = schema if isinstance(schema, dict) else {}
    return _Builder(root, prompt).build(root, "", 0)


def _stable(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest())


class _Builder:
    def __init__(self, root: dict[str, Any], prompt: str) -> None:
        self.root = root
        self.prompt = prompt
        self.lower = prompt.lower()
        self.values = 0
        self.chars = 0

    def build(self, schema: Any, path: str, depth: int) -> Any:
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return None
        self.values += 1
        if self.values > _MAX_VALUES:
            raise ValueError(f"the schema asks for an instance of more than {_MAX_VALUES} values")
        if "$ref" in schema:
            return self.build(self._resolve(schema["$ref"]), path, depth + 1)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self._enum(schema["enum"], path)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                branches = [b for b in schema[key] if not _is_null(b)] or schema[key]
                return self.build(branches[0], path, depth + 1)
        if isinstance(schema.get("allOf"), list) and schema["allOf"]:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self._resolve(part["$ref"]) if "$ref" in part else part)
            return self.build(merged, path, depth + 1)
        return self._typed(schema, _pick_type(schema), path, depth)

    def _typed(self, schema: dict[str, Any], kind: str, path: str, depth: int) -> Any:
        if kind == "object":
            props = schema.get("properties")
            if not isinstance(props, dict):
                props = {}
            return {
                name: self.build(sub, f"{path}.{name}", depth + 1) for name, sub in props.items()
            }
        if kind == "array":
            count = max(1, int(schema.get("minItems", 1)))
            if "maxItems" in schema:
                count = min(count, int(schema["maxItems"]))
            items = schema.get("items", {})
            return [self.build(items, f"{path}[{i}]", depth + 1) for i in range(count)]
        if kind == "string":
            return self._string(schema, path)
        if kind in ("integer", "number"):
            return _number(schema, kind == "integer", _stable(self.prompt + path))
        if kind == "boolean":
            return _stable(self.prompt + path) % 2 == 0
        return None

    def _resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return {}
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node

    def _enum(self, values: list[Any], path: str) -> Any:
        strings = [v for v in values if isinstance(v, str)]
        found = [
            v
            for v in strings
            if v and re.search(r"(?<!\w)" + re.escape(v.lower()) + r"(?!\w)", self.lower)
        ]
        if len(found) == 1:
            return found[0]
        return values[_stable(self.prompt + path) % len(values)]

    def _string(self, schema: dict[str, Any], path: str) -> str:
        fmt = schema.get("format")
        if fmt == "date":
            return "2025-01-01"
        if fmt == "date-time":
            return "2025-01-01T00:00:00Z"
        if fmt == "email":
            return "user@example.com"
        if fmt in ("uri", "url"):
            return "https://example.com/"
        name = path.rsplit(".", 1)[-1].split("[")[0] or "value"
        text = f"{name} {_stable(self.prompt + path) % 1000}"
        min_length = int(schema.get("minLength", 0))
        self.chars += max(0, min_length)
        if self.chars > _MAX_CHARS:
            raise ValueError(f"the schema asks for more than {_MAX_CHARS} string characters")
        text = text.ljust(min_length, "x")
        if "maxLength" in schema:
            text = text[: int(schema["maxLength"])]
        return text


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _pick_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or ["null"]
        kind = kinds[0]
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _number(schema: dict[str, Any], integer: bool, seed: int) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if isinstance(low, bool) or not isinstance(low, int | float):
        low = None
    if isinstance(high, bool) or not isinstance(high, int | float):
        high = None
    if low is not None and high is not None:
        value: float = (low + high) / 2
    elif low is not None:
        value = low + 1
    elif high is not None:
        value = high - 1
    else:
        value = seed % 10
    if integer:
        result = int(value)
        if low is not None and result <= low and "exclusiveMinimum" in schema:
            result += 1
        return result
    return float(value)
