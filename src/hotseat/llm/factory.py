"""Build the backend the settings name."""

from __future__ import annotations

from hotseat.config import Settings
from hotseat.llm.base import Backend

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


def make_backend(settings: Settings) -> Backend:
    if settings.backend == "openai":
        from hotseat.llm.openai import OpenAIBackend

        return OpenAIBackend(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value(),
            model=settings.model or DEFAULT_OPENAI_MODEL,
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout,
            max_retries=settings.upstream_max_retries,
            max_connections=settings.upstream_max_connections,
            first_token_timeout=settings.upstream_first_token_timeout,
        )
    if settings.backend == "local":
        # Imported here: llama-cpp-python is only needed when the local model is used.
        from hotseat.llm.local import LocalBackend
        from hotseat.local_models.selection import local_model_file

        model_path = settings.local_model_path or local_model_file(settings.local_model, settings.data_dir)
        return LocalBackend(
            model_path,
            n_ctx=settings.local_context_size,
            n_threads=settings.local_threads,
            queue_limit=settings.local_queue_limit,
        )
    from hotseat.llm.scripted import ScriptedBackend

    return ScriptedBackend()
