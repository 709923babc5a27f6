"""Settings: one pydantic-settings class, read from ``HOTSEAT_*`` variables and ``.env``.

Every field is documented in docs/configuration.md; keep the two in step
(tests/test_docs.py checks that every field is mentioned there).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hotseat.urls import without_credentials

BackendKind = Literal["local", "openai", "scripted"]
InterviewStyle = Literal["auto", "guided", "free"]
AnalysisKind = Literal["auto", "matcher", "judge"]

# The most characters HOTSEAT_MAX_ANSWER_CHARS may allow; the answer schemas refuse more before
# any setting is consulted.
ANSWER_CHARS_CEILING = 100_000


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hotseat"


class Settings(BaseSettings):
    """Everything an operator can set. Defaults run the embedded model on SQLite."""

    model_config = SettingsConfigDict(
        env_prefix="HOTSEAT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Server
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Off: a line per request and three per WebSocket are CPU on every turn (docs/performance.md),
    # and a load balancer or reverse proxy usually logs requests already.
    access_log: bool = False
    metrics_enabled: bool = True
    # A connection whose request head is not complete this long after it opened is closed.
    request_head_timeout_seconds: float = Field(default=10.0, gt=0)
    # Empty: /metrics is open to anyone who can reach the server; otherwise it needs this Bearer token.
    metrics_token: SecretStr = SecretStr("")
    # The Host names this server answers to (DNS rebinding); "*.example.com" matches subdomains.
    allowed_hosts: str = Field(default="", description="Comma-separated host names; empty: any.")

    # Identity and access
    secret_key: SecretStr = SecretStr("")
    api_keys: SecretStr = Field(
        default=SecretStr(""), description="Comma-separated API keys for Bearer clients."
    )
    secure_cookies: bool = False
    # Only Bearer clients with a key from api_keys; the browser page cannot be used then.
    require_api_key: bool = False
    allowed_origins: str = Field(default="", description="Comma-separated origins allowed to change state.")
    # The reverse proxies or load balancers in front: from them, the client's address and scheme
    # are taken from X-Forwarded-For and X-Forwarded-Proto. Empty: those headers are ignored.
    forwarded_allow_ips: str = Field(default="", description="Comma-separated proxy addresses or networks.")

    # Model backend
    backend: BackendKind = "local"
    # The model name sent to an OpenAI-compatible server (the local backend uses local_model_path).
    model: str = ""
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: SecretStr = SecretStr("")
    upstream_connect_timeout: float = Field(default=10.0, gt=0)
    upstream_read_timeout: float = Field(default=60.0, gt=0)
    upstream_max_retries: int = Field(default=2, ge=0, le=10)
    # Connections to the model server at once (the OpenAI SDK's default); a request past them waits.
    upstream_max_connections: int = Field(default=1000, ge=1)
    # 0 turns it off; otherwise a reply with no text by then is abandoned and requested again.
    upstream_first_token_timeout: float = Field(default=20.0, ge=0)
    max_tokens: int = Field(default=512, ge=1, le=32768)
    assessment_max_tokens: int = Field(default=1024, ge=64, le=32768)
    # Unset: 1 with the local model (it generates one reply at a time), 8 with a server.
    assessment_concurrency: int | None = Field(default=None, ge=1, le=1000)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)

    # The interview (docs/interview.md). auto: guided and the matcher with the embedded model,
    # free and the model judge with a model server.
    interview_style: InterviewStyle = "auto"
    analysis: AnalysisKind = "auto"
    # How long the next question may wait for the model judge's verdicts before the matcher's
    # decide it; the judge's verdicts still replace the matcher's in the report when they come.
    judge_wait_seconds: float = Field(default=0.0, ge=0, le=120)
    # A name from `hotseat models list` (pulled into data_dir/models) or a path to a .gguf file.
    local_model: str = ""
    local_model_path: Path | None = None
    local_context_size: int = Field(default=4096, ge=512)
    local_threads: int | None = Field(default=None, ge=1)
    local_queue_limit: int = Field(default=16, ge=0)

    # Storage
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str = ""
    # Connections kept open (no overflow), and how long a request waits for one before a 503 busy.
    database_pool_size: int = Field(default=15, ge=1)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    # Empty: turn logs, announcements and cancels stay in this process (one replica).
    redis_url: str = ""
    # Scale-out only: a replica that stops renewing its turns' leases for this long is presumed dead.
    turn_lease_seconds: float = Field(default=10.0, ge=1.0)
    packs_dir: str = Field(default="", description="Operator pack directories, ':'-separated.")
    # 0 keeps everything; otherwise sessions untouched and CVs uploaded this many days ago are deleted.
    retention_days: int = Field(default=0, ge=0)

    # Streaming
    orphan_grace_seconds: float = Field(default=30.0, ge=0)
    log_retention_seconds: float = Field(default=300.0, ge=0)
    sse_ping_seconds: float = Field(default=15.0, gt=0)
    ws_ping_seconds: float = Field(default=20.0, gt=0)
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=1024)
    # A WebSocket opened without a session must start one (query or start frame) within this.
    ws_start_timeout_seconds: float = Field(default=10.0, gt=0)
    # Off by default: permessage-deflate holds zlib state for every open WebSocket, idle or not,
    # and compact delta frames are already small (S3 and S4 in docs/performance.md).
    ws_compression: bool = False
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    # Input limits
    max_answer_chars: int = Field(default=8000, ge=1, le=ANSWER_CHARS_CEILING)
    max_job_description_chars: int = Field(default=8000, ge=0)
    cv_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    cv_max_pages: int = Field(default=30, ge=1)
    cv_max_chars: int = Field(default=50_000, ge=1000)
    cv_parse_timeout_seconds: float = Field(default=10.0, gt=0)

    # Speech (docs/speech.md): embedded faster-whisper and Piper, or OpenAI-compatible servers.
    # A server's /v1 URL; empty: the embedded model (Whisper tiny.en, or stt_model_path).
    stt_url: str = ""
    stt_api_key: SecretStr = SecretStr("")
    stt_model: str = "whisper-1"
    stt_model_path: Path | None = None
    stt_threads: int | None = Field(default=None, ge=1)
    stt_queue_limit: int = Field(default=4, ge=0)
    # A server's /v1 URL; empty: the embedded Piper voice (en_US-joe-medium, or tts_voice_path).
    tts_url: str = ""
    tts_api_key: SecretStr = SecretStr("")
    tts_model: str = "tts-1"
    tts_voice: str = "alloy"
    tts_voice_path: Path | None = None
    tts_queue_limit: int = Field(default=8, ge=0)
    speech_max_seconds: float = Field(default=120.0, gt=0)
    speech_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    speech_timeout_seconds: float = Field(default=60.0, gt=0)
    # Seconds of recordings transcribed, a token bucket per owner and per address (0: no limit).
    speech_seconds_per_minute: float = Field(default=30.0, ge=0)
    speech_seconds_burst: int = Field(default=600, ge=1)
    speech_seconds_per_minute_per_ip: float = Field(default=120.0, ge=0)
    speech_seconds_burst_per_ip: int = Field(default=1800, ge=1)

    # Abuse limits (api/limits.py); 0 turns a cap or a rate off.
    max_connections: int = Field(default=10_000, ge=0)
    max_connections_per_owner: int = Field(default=20, ge=0)
    # Per client address (an IPv6 /64), in each replica: fresh cookies cost nothing, addresses do.
    max_connections_per_ip: int = Field(default=200, ge=0)
    max_running_turns_per_owner: int = Field(default=3, ge=0)
    max_sessions_per_owner: int = Field(default=200, ge=0)
    answer_rate_per_minute: float = Field(default=30.0, ge=0)
    answer_burst: int = Field(default=20, ge=1)
    answer_rate_per_minute_per_ip: float = Field(default=120.0, ge=0)
    answer_burst_per_ip: int = Field(default=60, ge=1)
    upload_rate_per_minute: float = Field(default=10.0, ge=0)
    upload_burst: int = Field(default=10, ge=1)
    upload_rate_per_minute_per_ip: float = Field(default=60.0, ge=0)
    upload_burst_per_ip: int = Field(default=30, ge=1)
    send_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("database_url", "redis_url", "stt_url", "tts_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        entries = [part.strip() for part in value.split(",") if part.strip()]
        for entry in entries:
            try:
                if entry != "*":
                    ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (such as 10.0.0.5 or 10.0.0.0/8)"
                ) from None
        return ",".join(entries)

    @model_validator(mode="after")
    def _a_key_when_keys_are_required(self) -> Settings:
        if self.require_api_key and not self.api_key_list():
            raise ValueError(
                "HOTSEAT_REQUIRE_API_KEY is on but HOTSEAT_API_KEYS is empty, so nobody could use the "
                "server; set some keys or turn it off"
            )
        return self

    @model_validator(mode="after")
    def _one_upstream_credential(self) -> Settings:
        if (
            without_credentials(self.openai_base_url)[1] is not None
            and self.openai_api_key.get_secret_value()
        ):
            raise ValueError(
                "HOTSEAT_OPENAI_BASE_URL has a user:password@ and HOTSEAT_OPENAI_API_KEY is set: both "
                "would be the Authorization header; keep one of them"
            )
        return self

    @model_validator(mode="after")
    def _one_local_model(self) -> Settings:
        if self.local_model.strip() and self.local_model_path is not None:
            raise ValueError(
                "HOTSEAT_LOCAL_MODEL and HOTSEAT_LOCAL_MODEL_PATH are both set; keep one of them"
            )
        return self

    @field_validator(
        "local_model_path", "local_threads", "stt_model_path", "stt_threads", "tts_voice_path", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `HOTSEAT_LOCAL_THREADS=` in a .env means "not set", not "invalid" or the path ".".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("data_dir", "local_model_path", "stt_model_path", "tts_voice_path")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    def resolved_style(self, backend_name: str) -> Literal["guided", "free"]:
        """The interview style for the live backend (``auto``: guided on the embedded model)."""
        if self.interview_style != "auto":
            return self.interview_style
        return "guided" if backend_name == "local" else "free"

    def resolved_analysis(self, backend_name: str) -> Literal["matcher", "judge"]:
        """The analyser for the live backend (``auto``: the matcher on the embedded model)."""
        if self.analysis != "auto":
            return self.analysis
        return "matcher" if backend_name == "local" else "judge"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'hotseat.db'}"

    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.get_secret_value().split(",") if key.strip()]

    def host_list(self) -> list[str]:
        return [host.strip().lower() for host in self.allowed_hosts.split(",") if host.strip()]

    def trusts_any_proxy(self) -> bool:
        """HOTSEAT_FORWARDED_ALLOW_IPS has ``*``: every peer is a proxy (for one hop)."""
        return "*" in self.forwarded_allow_ips.split(",")

    def origin_list(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.allowed_origins.split(",") if origin.strip()]

    def pack_dirs(self) -> list[Path]:
        """Operator pack directories, in override order."""
        return [Path(part).expanduser() for part in self.packs_dir.split(":") if part.strip()]
