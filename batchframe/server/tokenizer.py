"""The simulated tokenizer of the local server: deterministic and roughly GPT-like.

The same rules count the simulator's usage and answer ``POST /v1/tokenize-text`` (and gRPC
``xai_api.Tokenize/TokenizeText``), so an estimate made with the endpoint is checkable against
what a batch is billed. It is not xAI's tokenizer; counts are close to a GPT-style BPE on English
text (about four characters a token). The text is cut into pieces, left to right:

1. up to 8 ASCII letters, with the one space before them (a longer word is cut every 8 letters);
2. an English contraction: ``'s``, ``'t``, ``'re``, ``'ve``, ``'m``, ``'ll``, ``'d``;
3. up to 2 other letters (accented, Greek, CJK, ...), with the space before them;
4. up to 3 digits, with the space before them;
5. up to 4 other symbols (punctuation, emoji, combining marks), with the space before them;
6. up to 4 underscores;
7. up to 16 whitespace characters, leaving the last space of a run to the word after it.

Every character belongs to exactly one piece, so joining the pieces gives the text back. A
piece's ID is the CRC-32 of its UTF-8 bytes modulo 131,072 (stable across runs and machines).

>>> [t.string_token for t in tokenize("Hello, world! It's 2026.")]
['Hello', ',', ' world', '!', ' It', "'s", ' 202', '6', '.']
>>> count_tokens("internationalization")
3
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

__all__ = ["VOCAB_SIZE", "Token", "count_tokens", "tokenize", "truncate"]

VOCAB_SIZE = 131_072

# Letters first: the commonest piece, and the alternatives start on different characters, so the
# order does not change the pieces, only the speed.
_PIECE = re.compile(
    r" ?[A-Za-z]{1,8}"
    r"|'(?:s|t|re|ve|m|ll|d)"
    r"| ?[^\W\d_A-Za-z]{1,2}"
    r"| ?\d{1,3}"
    r"| ?[^\s\w]{1,4}"
    r"|_{1,4}"
    r"|\s{1,16}(?!\S)|\s{1,16}"
)
_findall = _PIECE.findall


@dataclass(frozen=True, slots=True)
class Token:
    """One piece of text: its ID, its text and its UTF-8 bytes (xAI's field names)."""

    token_id: int
    string_token: str
    token_bytes: bytes


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, in order (``"".join`` of their strings is ``text``).

    >>> token = tokenize("hi")[0]
    >>> token.string_token, token.token_bytes, 0 <= token.token_id < VOCAB_SIZE
    ('hi', b'hi', True)
    """
    out = []
    for piece in _findall(text):
        raw = piece.encode("utf-8", "surrogatepass")
        out.append(Token(zlib.crc32(raw) % VOCAB_SIZE, piece, raw))
    return out


def count_tokens(text: str) -> int:
    """How many tokens ``text`` has (0 for the empty string).

    >>> count_tokens(""), count_tokens("The cat sat.")
    (0, 4)
    """
    return len(_findall(text)) if text else 0


def truncate(text: str, max_tokens: int) -> str:
    """The first ``max_tokens`` tokens of ``text``, joined.

    >>> truncate("one two three four", 2)
    'one two'
    """
    return "".join(_findall(text)[:max_tokens])
