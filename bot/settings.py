"""Configuration: one ``Settings`` read from the environment or ``.env`` (CONTRACT.md)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import InvalidInput

DEFAULT_DRAFT_MODEL = "gpt-4.1-mini"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite:///ladder.db"
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    ladder_draft_model: str = DEFAULT_DRAFT_MODEL
    ladder_command: str = "/ladder"
    ladder_approvers: str = Field(default="")
    ladder_digest_channel: str | None = None
    ladder_digest_cron: str = "0 9 * * MON"
    ladder_timezone: str = Field(default="UTC", validation_alias=AliasChoices("LADDER_TIMEZONE"))
    ladder_stalled_days: int = Field(default=3, ge=1)

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, v: str) -> str:
        return v if v.endswith("/") else v + "/"

    @field_validator("ladder_timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("ladder_digest_cron")
    @classmethod
    def _valid_cron(cls, v: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(v)
        except ValueError as exc:
            raise ValueError(f"not a crontab expression ({exc})") from exc
        return v

    @property
    def approvers(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.ladder_approvers.split(",") if a.strip())


def load_settings() -> Settings:
    """Settings from the environment; a bad value becomes one line naming the variable."""
    try:
        return Settings()
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"{name}: {message}", field=name) from None


def require(settings: Settings, *names: str) -> None:
    """Stop start-up with one line naming the first missing required variable."""
    for name in names:
        if getattr(settings, name.lower()) in (None, ""):
            raise InvalidInput(f"{name} is required but not set", field=name)
