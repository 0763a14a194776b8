"""Which chat model answers: the embedded router, or an LLM chosen by configuration.

``SLEEPLM_LLM`` (or the ``spec`` argument) selects it:

* unset, ``""`` or ``router`` — :class:`~sleeplm.agent.router.SleepRouter` (no LLM, no network);
* ``openai:MODEL`` — an OpenAI-compatible endpoint through ``langchain-openai``; the base URL
  comes from ``SLEEPLM_LLM_BASE_URL`` (e.g. a local vLLM / llama.cpp server), the key from
  ``OPENAI_API_KEY`` (a placeholder is used for a local endpoint without one);
* ``ollama:MODEL`` — a local Ollama server through ``langchain-ollama`` (``SLEEPLM_LLM_BASE_URL``
  overrides its default URL).

The LLM packages are optional (``pip install 'sleeplm[llm]'``); a clear error names the
missing one.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

ENV_MODEL = "SLEEPLM_LLM"
ENV_BASE_URL = "SLEEPLM_LLM_BASE_URL"
PROVIDERS = {"openai": "langchain-openai", "ollama": "langchain-ollama"}


class BackendError(RuntimeError):
    """A back end that cannot be used (unknown spec, missing package)."""


def parse_spec(spec: str) -> tuple[str, str]:
    """``"openai:gpt-4o-mini"`` → ``("openai", "gpt-4o-mini")``; ``"router"`` → ``("router", "")``.

    Raises
    ------
    BackendError
        For an unknown provider or a missing model name.
    """
    spec = spec.strip()
    if spec in ("", "router", "default", "none"):
        return "router", ""
    provider, sep, model = spec.partition(":")
    if provider not in PROVIDERS:
        raise BackendError(f"unknown LLM back end {spec!r}: use 'router', 'openai:MODEL' or 'ollama:MODEL'")
    if not sep or not model:
        raise BackendError(f"{spec!r} names no model: write '{provider}:MODEL'")
    return provider, model


def load_llm(spec: str | None = None, base_url: str | None = None, **kwargs: Any) -> BaseChatModel | None:
    """The chat model a spec names; None means the embedded router.

    Parameters
    ----------
    spec : ``router``, ``openai:MODEL`` or ``ollama:MODEL``; default ``$SLEEPLM_LLM``.
    base_url : endpoint; default ``$SLEEPLM_LLM_BASE_URL``.
    kwargs : passed to the chat model's constructor (e.g. ``timeout``).

    Raises
    ------
    BackendError
        For an unknown spec or when the provider's package is not installed.
    """
    spec = os.environ.get(ENV_MODEL, "") if spec is None else spec
    base_url = base_url or os.environ.get(ENV_BASE_URL) or None
    provider, model = parse_spec(spec)
    if provider == "router":
        return None
    if provider == "openai":
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:
            raise BackendError(f"{spec!r} needs the langchain-openai package: pip install 'sleeplm[llm]' "
                               "(or pip install langchain-openai)") from exc
        if base_url and not os.environ.get("OPENAI_API_KEY"):
            kwargs.setdefault("api_key", "not-needed")
        return ChatOpenAI(model=model, base_url=base_url, temperature=0, **kwargs)
    try:
        from langchain_ollama import ChatOllama
    except ImportError as exc:
        raise BackendError(f"{spec!r} needs the langchain-ollama package: pip install 'sleeplm[llm]' "
                           "(or pip install langchain-ollama)") from exc
    if base_url:
        kwargs["base_url"] = base_url
    return ChatOllama(model=model, temperature=0, **kwargs)


def model_label(llm: BaseChatModel) -> str:
    """A name to show for a chat model ("openai:gpt-4o-mini", "sleeplm-router")."""
    name = getattr(llm, "model_name", None) or getattr(llm, "model", None)
    llm_type = getattr(llm, "_llm_type", type(llm).__name__)
    if not name:
        return str(llm_type)
    kind = {"openai-chat": "openai", "chat-ollama": "ollama"}.get(str(llm_type))
    return f"{kind}:{name}" if kind else str(name)
