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
    """Seconds before one call is abandoned."""


DEFAULT_ROLE = RoleSpec(
    model=OFFLINE, temperature=0.7, max_tokens=2048, concurrency=4, timeout_s=120,
    api_key_env="OPENAI_API_KEY",
)


class RolesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    default: RoleSpec = DEFAULT_ROLE
    """What every role uses unless it says otherwise."""
    analyst: RoleSpec | None = None
    """Writes the error analysis (LE or LEC)."""
    generator: RoleSpec | None = None
    """Writes new practice samples from an analysis."""
    judge: RoleSpec | None = None
    """Checks generated samples (optional; unused by the built-in task)."""

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


def make_llm(spec: RoleSpec, task_options: dict[str, Any] | None = None) -> Any:
    """Build the langchain chat model a role spec names.

    `task_options` are the run's task options; the offline instructor needs them so the
    problems it writes avoid that task's validation and test items.
    """
    model = spec.model or ""
    if model == OFFLINE:
        from lai.agents.offline_instructor import OfflineArithInstructor

        return OfflineArithInstructor(task_options=task_options or {})
    provider, _, name = model.partition(":")
    if not name:
        provider, name = "openai", model
    if provider != "openai":
        raise LaiError(
            f"role model {model!r}: unknown provider {provider!r}; use `openai:<model>` "
            "(with `base_url` for vLLM, Ollama or llama.cpp servers) or `offline:arith`"
        )
    from langchain_openai import ChatOpenAI

    key = os.environ.get(spec.api_key_env or "")
    if not key and not spec.base_url:
        raise LaiError(
            f"role model {model!r} needs an API key: set ${spec.api_key_env} "
            "(or give a `base_url` for a local server)"
        )
    return ChatOpenAI(
        model=name, base_url=spec.base_url, api_key=key or "not-needed",
        temperature=spec.temperature, max_tokens=spec.max_tokens, timeout=spec.timeout_s,
        max_retries=3,
    )
