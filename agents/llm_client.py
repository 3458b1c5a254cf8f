"""What a night of instructor calls needs around a chat model, per role.

`RoleClient.ask` is one call with: bounded concurrency (a semaphore per role), retries with
exponential backoff and jitter on 429 / 5xx / timeouts / dropped connections that honour
`Retry-After` (tenacity), the persistent response cache, structured output that falls back to
plain prompts when an endpoint refuses `response_format`, token and cost accounting in the
run's `Ledger`, budget refusal, and a trace row per call. It never raises: a failed call comes
back as a `Reply` with `error` set, so one bad call cannot sink the others.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

from langchain_core.messages import convert_to_messages
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from lai.agents.ledger import Ledger
from lai.agents.llm import OFFLINE, Price, RoleSpec, model_name
from lai.tools.llm_cache import ResponseCache, cache_key
from lai.tools.trace import TraceStore

Messages = list[dict[str, str]]
MAX_RETRY_AFTER_S = 120.0


@dataclass
class Reply:
    text: str | None
    error: str | None = None
    truncated: bool = False
    """The endpoint stopped at `max_tokens`: the text is a prefix."""
    cached: bool = False
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0


class RoleClient:
    def __init__(self, role: str, spec: RoleSpec, llm: Any, *, cache: ResponseCache | None = None,
                 ledger: Ledger | None = None, trace: TraceStore | None = None,
                 prices: dict[str, Price] | None = None):
        self.role, self.spec, self.llm = role, spec, llm
        offline = spec.model == OFFLINE
        self.cache = None if offline else cache  # the offline instructor is free and deterministic
        # structured output, strongest first; an endpoint that refuses one gets the next
        self.json_modes = ["json_schema", "json_object"] if spec.structured_output and not offline else []
        self.ledger, self.trace = ledger, trace
        self.price = (prices or {}).get(model_name(spec))
        self._semaphores: dict[int, asyncio.Semaphore] = {}

    # ------------------------------------------------------------------ one call

    @property
    def structured(self) -> bool:
        return bool(self.json_modes)

    async def ask(self, messages: Messages, *, schema: dict | None = None, purpose: str = "",
                  ref: str = "") -> Reply:
        """One chat call; `schema` (a JSON schema with a `title`) asks for structured output."""
        use_schema = schema if self.structured else None
        key = cache_key({"model": self.spec.model, "base_url": self.spec.base_url,
                         "temperature": self.spec.temperature, "max_tokens": self.spec.max_tokens,
                         "schema": use_schema, "json_mode": self.json_modes[:1], "messages": messages})
        if self.cache is not None and (hit := self.cache.get(key)):
            reply = Reply(hit[0], cached=True, truncated=hit[1].get("truncated", False))
            self._record(messages, reply, purpose, ref, cost=0.0)
            return reply
        async with self._semaphore():
            if self.ledger and (reason := self.ledger.exhausted()):  # checked once a slot is free
                reply = Reply(None, error=f"budget exhausted: {reason}")
                self._record(messages, reply, purpose, ref, cost=0.0)
                return reply
            reply = await self._call_with_retries(messages, use_schema, purpose, ref)
        if self.cache is not None and reply.text is not None and reply.error is None:
            self.cache.put(key, reply.text, {"truncated": reply.truncated, "role": self.role})
        self._record(messages, reply, purpose, ref, cost=self._cost(reply))
        return reply

    async def _call_with_retries(self, messages: Messages, schema: dict | None, purpose: str,
                                 ref: str) -> Reply:
        started, attempts = time.monotonic(), 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt((self.spec.max_retries or 0) + 1),
                wait=self._wait, retry=retry_if_exception(is_transient), reraise=True,
            ):
                with attempt:
                    attempts += 1
                    reply = await self._invoke(messages, schema, purpose, ref)
        except Exception as e:  # noqa: BLE001 - reported in the Reply, never raised
            return Reply(None, error=describe_error(e), retries=attempts - 1,
                         latency_s=time.monotonic() - started)
        reply.retries, reply.latency_s = attempts - 1, time.monotonic() - started
        return reply

    async def _invoke(self, messages: Messages, schema: dict | None, purpose: str = "",
                      ref: str = "") -> Reply:
        lc_messages = convert_to_messages(messages)
        kwargs = {}
        if schema is not None and self.json_modes:
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": schema.get("title", "reply"), "schema": schema, "strict": False},
            } if self.json_modes[0] == "json_schema" else {"type": "json_object"}
        try:
            # named for langchain's own tracing (LangSmith, when LANGSMITH_TRACING is set)
            config = {"run_name": f"lai.{self.role}.{purpose or 'call'}", "tags": [self.role, purpose],
                      "metadata": {"lai_role": self.role, "lai_ref": ref}}
            msg = await self.llm.ainvoke(lc_messages, config=config, **kwargs)
        except Exception as e:
            if kwargs and _refuses_response_format(e):
                # this endpoint cannot do it: the next weaker mode (or plain prompts) from now on
                self.json_modes = self.json_modes[1:]
                return await self._invoke(messages, schema, purpose, ref)
            completion = getattr(e, "completion", None)  # openai's LengthFinishReasonError
            if completion is not None and type(e).__name__ == "LengthFinishReasonError":
                usage = getattr(completion, "usage", None)
                return Reply(completion.choices[0].message.content or "", truncated=True,
                             input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                             output_tokens=getattr(usage, "completion_tokens", 0) or 0)
            raise
        usage = getattr(msg, "usage_metadata", None) or {}
        finish = (getattr(msg, "response_metadata", None) or {}).get("finish_reason")
        return Reply(_text(msg.content), truncated=finish == "length",
                     input_tokens=usage.get("input_tokens", 0) or 0,
                     output_tokens=usage.get("output_tokens", 0) or 0)

    def _wait(self, retry_state) -> float:
        """`Retry-After` when the server sent one, else exponential backoff with jitter."""
        error = retry_state.outcome.exception() if retry_state.outcome else None
        after = retry_after_seconds(error)
        if after is not None:
            return min(after, MAX_RETRY_AFTER_S)
        base = (self.spec.backoff_s or 0.0) * 2 ** (retry_state.attempt_number - 1)
        return min(base, 60.0) * random.uniform(0.5, 1.5)

    def _semaphore(self) -> asyncio.Semaphore:
        """Bound to the loop it is used on (in practice the one background loop)."""
        loop = id(asyncio.get_running_loop())
        if loop not in self._semaphores:
            self._semaphores = {loop: asyncio.Semaphore(self.spec.concurrency or 1)}
        return self._semaphores[loop]

    def _cost(self, reply: Reply) -> float:
        if not self.price:
            return 0.0
        return (reply.input_tokens * self.price.input + reply.output_tokens * self.price.output) / 1e6

    def _record(self, messages: Messages, reply: Reply, purpose: str, ref: str, cost: float) -> None:
        if self.ledger:
            self.ledger.add(self.role, reply, cost)
        if self.trace:
            self.trace.llm_call(
                role=self.role, model=self.spec.model, purpose=purpose, ref=ref, messages=messages,
                response=reply.text, input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens, latency_s=round(reply.latency_s, 3),
                cost_usd=cost, cached=reply.cached, retries=reply.retries, error=reply.error)


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """One event loop for every LLM call of the process, in a daemon thread.

    Not `asyncio.run` per stage: HTTP clients pool their connections on the loop that made
    them (langchain-openai shares one client per endpoint), and a second loop would find
    them bound to a closed one.
    """
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="lai-llm-calls", daemon=True).start()
        return _loop


def run_all(coros: Iterable[Awaitable[Any]], progress: Callable[[int], None] | None = None) -> list[Any]:
    """Run coroutines concurrently (each role's semaphore bounds its calls); results in order."""

    async def main() -> list[Any]:
        async def one(coro: Awaitable[Any]) -> Any:
            result = await coro
            if progress:
                progress(1)
            return result

        return await asyncio.gather(*(one(c) for c in coros))

    return asyncio.run_coroutine_threadsafe(main(), _background_loop()).result()


# ---------------------------------------------------------------------- errors


def _status(error: BaseException | None) -> int | None:
    status = getattr(error, "status_code", None)
    if status is None and getattr(error, "response", None) is not None:
        status = getattr(error.response, "status_code", None)
    return status if isinstance(status, int) else None


_TRANSIENT = {"APITimeoutError", "APIConnectionError", "APIResponseValidationError",
              "JSONDecodeError", "TimeoutException", "NetworkError", "RemoteProtocolError",
              "TimeoutError", "ConnectionError"}


def is_transient(error: BaseException) -> bool:
    """Worth retrying: rate limits, server errors, timeouts, dropped connections, garbled bodies."""
    status = _status(error)
    if status is not None and status >= 400:
        return status in (408, 409, 429) or status >= 500
    return any(cls.__name__ in _TRANSIENT for cls in type(error).__mro__)


def retry_after_seconds(error: BaseException | None) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    for header, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is not None:
            try:
                return max(float(value) * scale, 0.0)
            except ValueError:
                return None  # an HTTP date: rare enough to treat as no hint
    return None


def describe_error(error: BaseException) -> str:
    status = _status(error)
    text = str(error).strip().replace("\n", " ")[:300]
    return f"{type(error).__name__}" + (f" (HTTP {status})" if status else "") + (f": {text}" if text else "")


def _refuses_response_format(error: BaseException) -> bool:
    """A server that cannot do structured output says so with 400/422 (OpenAI, vLLM) or even
    500 (llama-cpp-python's server: "Input should be 'text' or 'json_object'")."""
    text = str(error).lower()
    return _status(error) in (400, 422, 500) and any(
        word in text for word in ("response_format", "json_schema", "'text' or 'json_object'"))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
