"""The analyst and generator agents over real HTTP (langchain-openai → a scripted
OpenAI-compatible server on 127.0.0.1): JSON, free-text fallbacks and faults. Every stage
must finish with the right counts and no lost rows."""

import json
import time

import pytest

from lai.agents.data_generator import DataGenerator
from lai.agents.instructor import Instructor
from lai.agents.ledger import BudgetConfig, Ledger
from lai.agents.llm import Price, RoleSpec, make_llm
from lai.agents.llm_client import RoleClient
from lai.tools.jsonl import read_jsonl
from lai.tools.llm_cache import ResponseCache
from lai.tools.tasks.arith import ArithTask
from lai.tools.trace import TraceStore
from tests.openai_server import OpenAIServer, Scripted, last_user_text

KEY = "sk-test-DO-NOT-LEAK-4242"
ANALYSIS = {"diagnosis": "The student forgot to carry the one into the tens column.",
            "category": "carry or borrow slip", "skill": "addition with carrying"}


@pytest.fixture(scope="module")
def task():
    return ArithTask(n_mining=40, n_validation=14, n_test=14)


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("LAI_TEST_KEY", KEY)


def client_for(server, role="analyst", *, tmp_path=None, cache=None, budget=None, **spec):
    fields = dict(model="openai:scripted-model", base_url=server.base_url, api_key_env="LAI_TEST_KEY",
                  temperature=0.0, max_tokens=512, concurrency=4, timeout_s=1.0, max_retries=3,
                  backoff_s=0.01, structured_output=True)
    fields.update(spec)
    role_spec = RoleSpec(**fields)
    ledger = Ledger(tmp_path / "usage.json" if tmp_path else None, budget)
    trace = TraceStore(tmp_path / "trace.sqlite") if tmp_path else None
    return RoleClient(role, role_spec, make_llm(role_spec), cache=cache, ledger=ledger, trace=trace,
                      prices={"scripted-model": Price(input=1.0, output=2.0)})


def errors_for(task, n):
    items = task.load("mining")
    return [{"id": it["id"], "item": it, "response": "It is 7.\n#### 7", "extracted": "7",
             "neighbours": []} for it in items[:n]]


def marker(body) -> str:
    """Which test error a request is about (its question text is in the prompt)."""
    return last_user_text(body)


# ---------------------------------------------------------------------- analyst


def test_analyst_over_http_json_fallbacks_and_faults(task, key_env, tmp_path):
    errors = errors_for(task, 8)
    q = [e["item"]["question"] for e in errors]
    seen: dict[str, int] = {}

    def script(body):
        text = marker(body)
        k = next(i for i, question in enumerate(q) if question in text)
        seen[k] = seen.get(k, 0) + 1
        first = seen[k] == 1
        if k == 0:  # well-formed JSON, as asked by response_format
            return Scripted(json.dumps(ANALYSIS))
        if k == 1:  # free text with markdown bold headers
            return Scripted("**Diagnosis:** lost a carry in the tens.\n**Category:** carry or borrow slip\n**Skill:** carrying")
        if k == 2:  # rate limited once, with Retry-After
            return Scripted(status=429, headers={"Retry-After": "1"}) if first else Scripted(json.dumps(ANALYSIS))
        if k == 3:  # a server error once
            return Scripted(status=500) if first else Scripted(json.dumps(ANALYSIS))
        if k == 4:  # hangs past the client's 1 s timeout once
            return Scripted(json.dumps(ANALYSIS), delay_s=2.5 if first else 0)
        if k == 5:  # malformed JSON content: nothing readable
            return Scripted('{"diagnosis": ')
        if k == 6:  # a garbled HTTP body, every time: the call fails after its retries
            return Scripted(raw_body="{not json")
        return Scripted('```json\n{"diagnosis": "cut off after the first field", "category": "carry', finish_reason="length")

    with OpenAIServer(script) as server:
        client = client_for(server, tmp_path=tmp_path)
        started = time.monotonic()
        counts = Instructor(client, task, "le").analyse(errors, tmp_path / "analyses.jsonl")
        elapsed = time.monotonic() - started

    rows = read_jsonl(tmp_path / "analyses.jsonl")
    assert [r["error_id"] for r in rows] == [e["id"] for e in errors]  # nothing lost, in order
    assert [r["ok"] for r in rows] == [True, True, True, True, True, False, False, True]
    assert rows[1]["diagnosis"] == "lost a carry in the tens." and rows[1]["skill"] == "carrying"
    assert rows[6]["call_error"] and rows[5]["call_error"] is None
    assert rows[7]["truncated"] and rows[7]["diagnosis"] == "cut off after the first field"
    assert counts == {"analysed": 6, "analysis_failed": 1, "analysis_unparsed": 1}
    assert seen[2] == 2 and seen[3] == 2 and seen[4] == 2 and seen[6] == 4  # 3 retries, then give up
    assert elapsed >= 1.0  # Retry-After was honoured
    # structured output was asked for, with the schema
    assert all(c["response_format"]["type"] == "json_schema" for c in server.calls)
    usage = json.loads((tmp_path / "usage.json").read_text())["roles"]["analyst"]
    assert usage["calls"] == 8 and usage["failed"] == 1 and usage["retries"] >= 6
    assert usage["cost_usd"] > 0 and usage["input_tokens"] > 0
    trace_rows = TraceStore(tmp_path / "trace.sqlite").query("SELECT * FROM llm_calls")
    assert len(trace_rows) == 8 and {r["role"] for r in trace_rows} == {"analyst"}


@pytest.mark.parametrize("status,message", [
    (400, "response_format is not supported"),
    (500, "1 validation error: response_format.type Input should be 'text' or 'json_object'"),  # llama-cpp-python
])
def test_endpoint_refusing_response_format_gets_plain_prompts(task, key_env, tmp_path, status, message):
    def script(body):
        if "response_format" in body:
            return Scripted(status=status, raw_body=json.dumps({"error": {"message": message}}))
        return Scripted("Diagnosis: dropped a carry\nCategory: carry or borrow slip\nSkill: carrying")

    with OpenAIServer(script) as server:
        client = client_for(server)
        counts = Instructor(client, task, "lec").analyse(errors_for(task, 3), tmp_path / "a.jsonl")
    assert counts["analysed"] == 3
    assert not client.structured
    assert sum("response_format" in c for c in server.calls) >= 1  # tried once, then stopped asking


def test_cache_second_identical_run_makes_no_http_calls(task, key_env, tmp_path):
    with OpenAIServer(lambda body: Scripted(json.dumps(ANALYSIS))) as server:
        cache = ResponseCache(tmp_path / "cache.sqlite")
        first = Instructor(client_for(server, cache=cache), task, "le").analyse(errors_for(task, 5), tmp_path / "a1.jsonl")
        n_first = len(server.calls)
        again = client_for(server, cache=ResponseCache(tmp_path / "cache.sqlite"))  # a new process, same file
        second = Instructor(again, task, "le").analyse(errors_for(task, 5), tmp_path / "a2.jsonl")
    assert n_first == 5 and len(server.calls) == 5  # zero calls the second time
    assert first == second
    a1, a2 = read_jsonl(tmp_path / "a1.jsonl"), read_jsonl(tmp_path / "a2.jsonl")
    assert [r["reply"] for r in a1] == [r["reply"] for r in a2] and all(r["cached"] for r in a2)


def test_budget_stops_new_calls(task, key_env, tmp_path):
    with OpenAIServer(lambda body: Scripted(json.dumps(ANALYSIS))) as server:
        client = client_for(server, tmp_path=tmp_path, concurrency=1,
                            budget=BudgetConfig(max_cost_usd=1e-9))
        counts = Instructor(client, task, "le").analyse(errors_for(task, 4), tmp_path / "a.jsonl")
    assert len(server.calls) == 1  # the first call spends the budget, the rest are refused
    assert counts["analysis_failed"] == 3
    assert client.ledger.exhausted().startswith("instructor cost")
    assert "budget exhausted" in read_jsonl(tmp_path / "a.jsonl")[-1]["call_error"]


def test_api_key_is_sent_but_never_written(task, key_env, tmp_path):
    with OpenAIServer(lambda body: Scripted(json.dumps(ANALYSIS))) as server:
        client = client_for(server, tmp_path=tmp_path, cache=ResponseCache(tmp_path / "cache.sqlite"))
        Instructor(client, task, "lec").analyse(errors_for(task, 2), tmp_path / "a.jsonl")
    assert server.calls[0]["_authorization"] == f"Bearer {KEY}"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


# ---------------------------------------------------------------------- generator


def analyses_for(task, n):
    return [{"error_id": e["id"], "item": e["item"], "response": e["response"], "ok": True, **ANALYSIS}
            for e in errors_for(task, n)]


def math_sample(a, b, answer=None, python=None):
    total = a + b
    return {"question": f"Ann has {a} stickers and gets {b} more. How many stickers does she have now?",
            "solution": f"{a} + {b} = {total}\n#### {total}", "answer": str(answer if answer is not None else total),
            "python": python or f"answer = {a} + {b}"}


def test_generator_checks_samples_and_repairs_failures_over_http(task, key_env, tmp_path):
    pytest.importorskip("lai.tools.sandbox")
    analyses = analyses_for(task, 3)
    q = [a["item"]["question"] for a in analyses]

    def script(body):
        first_text = str(body["messages"][0]["content"])
        k = next(i for i, question in enumerate(q) if question in first_text)
        repair = len(body["messages"]) > 1
        if k == 0:
            if not repair:  # the 2nd sample's stated answer is wrong: caught, sent back, fixed
                return Scripted(json.dumps({"samples": [math_sample(101, 202), math_sample(303, 404, answer=700)]}))
            assert "failed verification" in last_user_text(body) and "700" in last_user_text(body)
            return Scripted(json.dumps({"samples": [math_sample(303, 404)]}))
        if k == 1:  # the paper's free-text format, no python: the task's own checks only
            return Scripted("1. Question: Tom has 15 apples and buys 27 more. How many apples now?\n"
                            "Answer: 15 + 27 = 42\n#### 42\n\n"
                            "2. Question: A box holds 38 pens and 45 more are added. How many pens?\n"
                            "Answer: 38 + 45 = 83\n#### 83")
        if repair:  # the repair reply has nothing readable in it
            return Scripted("Sorry, I cannot help with that.")
        # a python solution that disagrees; and a reply cut off mid-sample
        bad = math_sample(11, 22, python="answer = 11 * 22")
        text = json.dumps({"samples": [math_sample(55, 66), bad, math_sample(77, 88)]})
        return Scripted(text[: text.rindex('{"question"') + 30], finish_reason="length")

    with OpenAIServer(script) as server:
        generator = DataGenerator(client_for(server, "generator", tmp_path=tmp_path), task, max_repairs=1)
        counts = generator.generate(analyses, budget=4, out_path=tmp_path / "gen.jsonl",
                                    calls_path=tmp_path / "calls.jsonl",
                                    rejects_path=tmp_path / "rejects.jsonl")
    kept = read_jsonl(tmp_path / "gen.jsonl")
    rejects = read_jsonl(tmp_path / "rejects.jsonl")
    by_source = {a["error_id"]: [s["target"] for s in kept if s["source_error"] == a["error_id"]] for a in analyses}
    assert by_source[analyses[0]["error_id"]] == ["303", "707"]  # 707 = the repaired sample
    assert by_source[analyses[1]["error_id"]] == ["42", "83"]
    assert by_source[analyses[2]["error_id"]] == ["121"]  # 55+66; the cut-off third is not invented
    assert counts["generated"] == 5 and counts["repaired"] == 1 and counts["requested"] == 3 * 3
    reasons = [r["reason"] for r in rejects]
    assert any("700" in r for r in reasons)  # the wrong stated answer
    assert any("python computes 242, not the target 33" in r for r in reasons)
    assert any(r["stage"] == "unparsed" for r in rejects)  # the cut-off sample and the refusal
    assert all(s["skill"] == a["item"]["skill"] for a in analyses for s in kept if s["source_error"] == a["error_id"])
    calls = read_jsonl(tmp_path / "calls.jsonl")
    assert len(calls) == 3 + 2  # one repair for each source with a failure (max_repairs=1)


def test_consecutive_stages_share_the_endpoint(task, key_env, tmp_path):
    """Two stages in a row against one endpoint (pooled HTTP connections must stay usable)."""
    with OpenAIServer(lambda body: Scripted(json.dumps(ANALYSIS))) as server:
        for k in range(3):
            counts = Instructor(client_for(server), task, "le").analyse(errors_for(task, 6), tmp_path / f"a{k}.jsonl")
            assert counts["analysed"] == 6, counts
    assert len(server.calls) == 18


def test_json_object_mode_when_json_schema_is_refused(task, key_env, tmp_path):
    """llama-cpp-python's server: no `json_schema`, but grammar-constrained `json_object`."""
    def script(body):
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema":
            return Scripted(status=500, raw_body=json.dumps({"error": {"message": "Input should be 'text' or 'json_object'"}}))
        return Scripted(json.dumps(ANALYSIS) if kind == "json_object" else "no JSON asked for")

    with OpenAIServer(script) as server:
        client = client_for(server, concurrency=1)
        counts = Instructor(client, task, "le").analyse(errors_for(task, 3), tmp_path / "a.jsonl")
    assert counts["analysed"] == 3 and client.json_modes == ["json_object"]
    kinds = [(c.get("response_format") or {}).get("type") for c in server.calls]
    assert kinds == ["json_schema", "json_object", "json_object", "json_object"]


def test_prose_analysis_is_kept_as_the_diagnosis_but_junk_is_not():
    from lai.agents.replies import parse_analysis

    prose = "The student added the two prices but forgot to subtract the discount at the end."
    assert parse_analysis(prose) == {"diagnosis": prose, "category": "unstructured", "skill": ""}
    for junk in ('{"diagnosis": ', "Sorry, I cannot help with that request at all, really.", "ok"):
        assert parse_analysis(junk) is None


def test_an_echoed_template_slot_is_not_an_analysis():
    from lai.agents.replies import parse_analysis

    echoed = '{"diagnosis": "<one or two sentences: the precise mistake and why it happened>", "category": "x"}'
    assert parse_analysis(echoed) is None
    half = '{"diagnosis": "Forgot the carry.", "category": "<one of: a, b>", "skill": "<what to practise>"}'
    assert parse_analysis(half) == {"diagnosis": "Forgot the carry.", "category": "unknown", "skill": "",
                                    "details": {}}


def test_an_unreadable_reply_is_sent_back_once(task, key_env, tmp_path):
    replies = iter(['{"type": "Cheating"}', json.dumps({"samples": [math_sample(12, 30)]})])

    def script(body):
        if len(body["messages"]) > 1:
            assert "no sample could be read" in last_user_text(body)
        return Scripted(next(replies))

    with OpenAIServer(script) as server:
        counts = DataGenerator(client_for(server, "generator"), task, max_repairs=1).generate(
            analyses_for(task, 1), budget=2, out_path=tmp_path / "g.jsonl",
            calls_path=tmp_path / "c.jsonl", rejects_path=tmp_path / "r.jsonl")
    assert counts["generated"] == 1 and counts["repaired"] == 1 and counts["generation unparsed"] == 1
