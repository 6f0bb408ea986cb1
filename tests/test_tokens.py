"""Offline token counting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot import tokens
from bot.tokens import ESTIMATE_METHOD, count_tokens


def test_cl100k_count_of_a_known_string() -> None:
    # "tiktoken is great!" is [83, 1609, 5963, 374, 2294, 0] in cl100k_base.
    counted = count_tokens("tiktoken is great!")
    assert counted.tokens == 6
    assert "cl100k_base" in counted.method and "o200k_base" in counted.method


def test_empty_and_special_token_text() -> None:
    assert count_tokens("").tokens == 0
    # Special-token text in a prompt file is ordinary text, not an error.
    assert count_tokens("a <|endoftext|> b").tokens > 3


def test_estimate_when_no_tokenizer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_encoding", lambda: None)
    counted = count_tokens("x" * 9)
    assert counted.tokens == 3  # ceil(9 / 4)
    assert counted.method == ESTIMATE_METHOD


def test_counts_offline_without_a_download(tmp_path: object) -> None:
    # An empty tiktoken cache dir and no network proxy: the bundled file must be enough.
    code = "from bot.tokens import count_tokens; print(count_tokens('hello world').tokens)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "TIKTOKEN_CACHE_DIR": str(tmp_path),
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
