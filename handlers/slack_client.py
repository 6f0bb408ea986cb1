"""The Slack Web API client: ``SLACK_API_URL``, retries on 429 (Retry-After) and on dropped
connections."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler

from bot.settings import Settings


def retry_handlers() -> list[RetryHandler]:
    # RateLimitErrorRetryHandler sleeps for the Retry-After the API sent before retrying.
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
    ]


def make_web_client(settings: Settings, *, timeout: int = 15) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=retry_handlers(),
    )
