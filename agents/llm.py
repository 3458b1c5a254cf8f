"""Instructor roles (`analyst`, `generator`, `judge`) mapped to chat models.

Every role is a langchain chat model, so the graph never knows which one it talks to: a
real LLM behind any OpenAI-compatible endpoint (`openai:gpt-4o`, or a vLLM, Ollama or
llama.cpp server through `base_url`), or `offline:arith`, the offline rule-based instructor
for the built-in task. Roles inherit unset fields from `default`.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lai.tools.errors import LaiError

ROLES = ("analyst", "generator", "judge")
OFFLINE = "offline:arith"


class RoleSpec(BaseModel):
    """One role's chat model. `None` fields inherit from `roles.default`."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    model: str | None = None
    """`provider:model`, e.g. `openai:gpt-4o`, or `offline:arith` (rule-based, arith only)."""
    base_url: str | None = None
    """OpenAI-compatible endpoint, e.g. `http://127.0.0.1:8000/v1` for a local vLLM server."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (the key itself never goes in config)."""
    temperature: float | None = Field(None, ge=0.0)
    max_tokens: int | None = Field(None, gt=0)
    """Reply length limit, in tokens."""
    concurrency: int | None = Field(None, gt=0)
    """Calls in flight at once for this role."""
    timeout_s: float | None = Field(None, gt=0)
    """Seconds before one call is abandoned (and retried)."""
    max_retries: int | None = Field(None, ge=0)
    """Retries of a call that failed transiently (429, 5xx, timeout, connection), with
    exponential backoff and jitter, honouring `Retry-After`."""
    backoff_s: float | None = Field(None, ge=0)
    """First backoff delay; doubles on each retry (capped at 60 s)."""
    structured_output: bool | None = None
    """Ask for JSON matching a schema (`response_format`); replies are parsed tolerantly
    either way, and an endpoint that refuses `response_format` gets plain prompts."""


DEFAULT_ROLE = RoleSpec(
    model=OFFLINE, temperature=0.7, max_tokens=2048, concurrency=4, timeout_s=120,
    api_key_env="OPENAI_API_KEY", max_retries=6, backoff_s=1.0, structured_output=True,
)


class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(ge=0)
    output: float = Field(ge=0)


class RolesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    default: RoleSpec = DEFAULT_ROLE
    """What every role uses unless it says otherwise."""
    analyst: RoleSpec | None = None
    """Writes the error analysis (LE or LEC)."""
    generator: RoleSpec | None = None
    """Writes new practice samples from an analysis."""
    judge: RoleSpec | None = None
    """Re-answers each generated sample blind; a sample is kept only if it agrees with the
    sample's key. Off unless set (it does not inherit from `default` by itself)."""
    prices: dict[str, Price] = {}
    """Model name → price per million tokens, e.g. `{gpt-4o: {input: 2.5, output: 10}}`;
    turns token counts into cost (and makes `budget.max_cost_usd` work)."""
    cache: bool = True
    """Keep every successful reply in a persistent SQLite cache: a resumed or repeated run makes
    no call twice."""
    cache_path: str | None = None
    """The cache file; None = `<run.cache_dir>/llm_responses.sqlite`, shared by all runs."""

    def enabled(self, role: str) -> bool:
        """The judge runs only when configured; the other roles always exist."""
        return role != "judge" or self.judge is not None

    def resolve(self, role: str) -> RoleSpec:
        """The role's spec with `default` filled in under it."""
        if role not in ROLES:
            raise LaiError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
        base = DEFAULT_ROLE.model_dump()
        base.update(self.default.model_dump(exclude_none=True))
        override = getattr(self, role)
        if override is not None:
            base.update(override.model_dump(exclude_none=True))
        return RoleSpec(**base)


def describe(spec: RoleSpec) -> str:
    """How the CLI names a role's model: plain about the offline instructor."""
    if spec.model == OFFLINE:
        return "offline rule-based instructor (arith only, no LLM)"
    where = f" @ {spec.base_url}" if spec.base_url else ""
    return f"{spec.model}{where}"


def model_name(spec: RoleSpec) -> str:
    """The model part of `provider:model` (what the price table is keyed by)."""
    return (spec.model or "").partition(":")[2] or (spec.model or "")


def make_llm(spec: RoleSpec, task_options: dict[str, Any] | None = None) -> Any:
    """Build the langchain chat model a role spec names.

    `task_options` are the run's task options; the offline instructor needs them so the
    problems it writes avoid that task's validation and test items. Retries are left to
    `RoleClient` (so they are counted and honour `Retry-After`): the client gets none.
    """
    model = spec.model or ""
    if model == OFFLINE:
        from lai.agents.offline_instructor import OfflineArithInstructor

        return OfflineArithInstructor(task_options=task_options or {})
    provider, _, name = model.partition(":")
    if not name:
        provider, name = "openai", model
    key = os.environ.get(spec.api_key_env or "")
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        if not key and not spec.base_url:
            raise LaiError(
                f"role model {model!r} needs an API key: set ${spec.api_key_env} "
                "(or give a `base_url` for a local server)"
            )
        return ChatOpenAI(
            model=name, base_url=spec.base_url, api_key=key or "not-needed",
            temperature=spec.temperature, max_tokens=spec.max_tokens, timeout=spec.timeout_s,
            max_retries=0,
        )
    try:  # any other langchain provider (anthropic:, ollama:, ...) if its package is installed
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise LaiError(
            f"role model {model!r}: provider {provider!r} needs the `langchain` package and its "
            f"integration; or use `openai:<model>` with `base_url` for any OpenAI-compatible "
            "server (vLLM, Ollama, llama.cpp), or `offline:arith`"
        ) from None
    extra = {"api_key": key} if key else {}
    try:
        return init_chat_model(name, model_provider=provider, temperature=spec.temperature,
                               max_tokens=spec.max_tokens, timeout=spec.timeout_s,
                               max_retries=0, **extra)
    except Exception as e:  # noqa: BLE001 - a missing integration package, an unknown provider
        raise LaiError(f"role model {model!r}: {e}") from None
