"""Curation on planted bad samples: wrong answers, duplicates, leaked evaluation items, copied
and paraphrased test questions (real GSM8K), and what it costs."""

import json
import re
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from lai.tools.curation import REASONS, curate
from lai.tools.dedup import Decontaminator, item_text
from lai.tools.tasks.arith import ArithTask


def test_planted_bad_samples_are_rejected_with_reasons():
    task = ArithTask(n_mining=20, n_validation=14, n_test=14)
    good = task.sample(4, seed=1, skill="add_carry")
    for i, s in enumerate(good):
        s["id"], s["source_error"] = f"g{i}", "e1"
    wrong = {**good[0], "id": "wrong", "answer": good[0]["answer"].replace(
        f"#### {good[0]['target']}", f"#### {int(good[0]['target']) + 1}")}
    copy = {**good[1], "id": "copy"}
    test_item = task.load("test")[0]
    # a leaked test problem, re-worded by an "LLM" as text without operands
    leaked = {"id": "leak", "question": "Reworded: " + test_item["question"],
              "answer": test_item["answer"], "target": test_item["target"],
              "skill": test_item["skill"], "source_error": "e2"}
    earlier = good[2]
    held_out = {task.signature(it) for it in task.load("validation") + task.load("test")}
    kept, rejected, counts = curate(task, good + [wrong, copy, leaked], budget=10,
                                    seen={task.signature(earlier)}, held_out=held_out)
    reasons = {r["id"]: r["reject_reason"] for r in rejected}
    assert reasons["wrong"].startswith("failed verification")
    assert reasons["copy"] == "duplicate within this iteration"
    assert reasons["leak"].startswith("contaminated")
    assert reasons["g2"] == "duplicate of an earlier iteration"
    assert {k["id"] for k in kept} == {"g0", "g1", "g3"}
    assert counts["kept"] == 3 and counts["rejected"] == 4
    assert counts["failed verification"] == 1 and counts["contaminated"] == 1


# ---------------------------------------------------------------- planted samples on real data

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "gsm8k" / "test.jsonl").exists(),
                                reason="shared GSM8K data not present")


def gsm8k_items(task) -> list[dict]:
    """GSM8K test rows as math items whose worked answers pass `ArithTask.verify` (the
    calculator annotations `<<...>>` removed), in file order, ids `gsm8k-<row>`."""
    items = []
    for i, line in enumerate((DATA / "gsm8k" / "test.jsonl").open()):
        row = json.loads(line)
        answer = re.sub(r"<<[^>]*>>", "", row["answer"])
        item = {"id": f"gsm8k-{i}", "question": row["question"], "answer": answer,
                "target": answer.rsplit("####", 1)[1].strip()}
        if task.verify(item)[0]:
            items.append(item)
    return items


def as_sample(item: dict, sample_id: str, source: str = "e1", **changes) -> dict:
    return {**item, "id": sample_id, "source_error": source, **changes}


def insert_word(text: str, word: str, at: int = 5) -> str:
    words = text.split()
    return " ".join(words[:at] + [word] + words[at:])


@needs_data
def test_planted_bad_samples_on_real_gsm8k_questions():
    task = ArithTask(n_mining=20, n_validation=14, n_test=14)  # its verify: a op b = c, #### N
    gsm = gsm8k_items(task)
    held = gsm[:10]  # the validation/test items
    assert [h["id"] for h in held] == [f"gsm8k-{i}" for i in range(10)]
    janet, james = held[0], held[3]
    earlier = gsm[200]  # kept in an earlier iteration
    new_real = [as_sample(it, f"new-{k}", source=f"e{k % 3}") for k, it in enumerate(gsm[100:120])]
    new_arith = task.sample(10, seed=7)
    for k, it in enumerate(new_arith):
        it["id"], it["source_error"] = f"arith-{k}", "e9"
    good = new_real + new_arith

    para_janet = ("Janet’s ducks lay 16 eggs per day. She has three for breakfast every morning and "
                  "bakes muffins for her pals every day with four. She sells the rest at the farmers' "
                  "market daily for $2 per new duck egg. How much in dollars does she make each day "
                  "at the farmers' market?")
    para_james = ("James decides to run 3 sprints 3 times every week. He runs 60 meters in each sprint. "
                  "How many meters does he run in total in a week?")
    words = held[5]["question"].split()
    inside = ("A friend sent me this puzzle last night and I liked it: "
              + " ".join(words[3:3 + 15]) + " Can you work out a good plan for her?")
    bad_answer = new_arith[1]["answer"].replace(f"#### {new_arith[1]['target']}",
                                                f"#### {int(new_arith[1]['target']) + 1}")
    bad_step = re.sub(r"= (\d+)", lambda m: f"= {int(m[1]) + 10}", new_arith[3]["answer"], count=1)
    planted = [
        as_sample(held[1], "a-verbatim"),                                   # (a) copied test question
        as_sample(held[2], "a-verbatim-extra",                              # (a') copied, one clause added
                  question=held[2]["question"] + " Give the answer in dollars."),
        as_sample(new_real[4], "b-13gram", question=inside),                # (b) 13+ tokens inside a new question
        as_sample(janet, "c-paraphrase"),                                   # (c) few words swapped
        as_sample(james, "c-paraphrase-2"),                                 # (c') reworded more
        as_sample(earlier, "d-near-earlier",                                # (d) near-dup of earlier round
                  question=insert_word(earlier["question"], "then")),
        as_sample(earlier, "d-dup-earlier"),                                # exact dup of earlier round
        as_sample(new_arith[1], "e-wrong", answer=bad_answer),              # (e) wrong final answer
        as_sample(new_arith[3], "e-wrong-step", answer=bad_step),           # (e') a wrong step
        as_sample(new_real[9], "f-near-within",                             # near-dup within the batch
                  question=insert_word(new_real[9]["question"], "also")),
        as_sample(new_arith[2], "f-dup-within"),                            # exact dup within the batch
    ]
    planted[3]["question"], planted[4]["question"] = para_janet, para_james
    held_texts = {h["id"]: item_text(h) for h in held}
    # the paraphrases share no 13-gram with any held-out question: only near-duplicate matching
    # can catch them
    assert Decontaminator(held_texts).contaminated(para_janet) is None
    assert Decontaminator(held_texts).contaminated(para_james) is None

    kept, rejected, counts = curate(
        task, good + planted, budget=100,
        seen={task.signature(earlier)}, held_out={task.signature(h) for h in held},
        held_out_texts=held_texts, seen_texts={earlier["id"]: item_text(earlier)})
    reasons = {r["id"]: r["reject_reason"] for r in rejected}
    rule = {i: r.split(":")[0] for i, r in reasons.items()}
    assert rule == {
        "a-verbatim": "contaminated",
        "a-verbatim-extra": "contaminated n-gram",
        "b-13gram": "contaminated n-gram",
        "c-paraphrase": "contaminated near-duplicate",
        "c-paraphrase-2": "contaminated near-duplicate",
        "d-near-earlier": "near-duplicate of an earlier iteration",
        "d-dup-earlier": "duplicate of an earlier iteration",
        "e-wrong": "failed verification",
        "e-wrong-step": "failed verification",
        "f-near-within": "near-duplicate within this iteration",
        "f-dup-within": "duplicate within this iteration",
    }, reasons
    assert set(rule.values()) <= set(REASONS)
    # the reasons name what matched
    assert "gsm8k-5" in reasons["b-13gram"] and "gsm8k-0" in reasons["c-paraphrase"]
    assert "gsm8k-3" in reasons["c-paraphrase-2"] and earlier["id"] in reasons["d-near-earlier"]
    assert "new-9" in reasons["f-near-within"]
    assert "is wrong" in reasons["e-wrong-step"] and "does not match" in reasons["e-wrong"]
    # (c') is further from its original (Jaccard 0.36): caught because it has the same numbers
    assert "Jaccard 0.3" in reasons["c-paraphrase-2"]
    # nothing good is dropped
    assert {k["id"] for k in kept} == {g["id"] for g in good}
    assert counts == {"kept": 30, "rejected": 11, "contaminated": 1, "contaminated n-gram": 2,
                      "contaminated near-duplicate": 2, "near-duplicate of an earlier iteration": 1,
                      "duplicate of an earlier iteration": 1, "failed verification": 2,
                      "near-duplicate within this iteration": 1, "duplicate within this iteration": 1}


def test_near_duplicate_rules_can_be_turned_off_and_old_callers_work():
    task = ArithTask(n_mining=20, n_validation=14, n_test=14)
    items = task.sample(3, seed=4)
    for it in items:
        it["source_error"] = "e"
    copy = {**items[0], "id": "x", "question": items[0]["question"].replace(" ", "  ")}
    copy.pop("operands")
    copy["skill"] = None
    kept, rejected, counts = curate(task, items + [copy], budget=10)
    assert counts["near-duplicate within this iteration"] == 1
    kept, rejected, counts = curate(task, items + [copy], budget=10, dedup_threshold=None)
    assert counts == {"kept": 4, "rejected": 0}


def test_arith_samples_that_differ_in_numbers_are_all_kept():
    """200 distinct `arith` samples share their phrasings but not their numbers: none is a
    near duplicate of another, nor of a validation/test item."""
    task = ArithTask()
    items = task.sample(200, seed=1)
    kept, rejected, counts = curate(task, items, budget=1000)
    assert counts == {"kept": 200, "rejected": 0}
    evaluation = task.load("validation") + task.load("test")
    kept, rejected, counts = curate(
        task, items, budget=1000, held_out={task.signature(it) for it in evaluation},
        held_out_texts={it["id"]: item_text(it) for it in evaluation})
    # The 13-gram rule, applied literally, does flag a few: one `div` phrasing ends in 13
    # fixed tokens plus the object ("... boxes, the same number in each box. How many books go
    # in each box?"), so it matches every held-out item of that phrasing and object. Template
    # overlap with other numbers, not leakage; the count is pinned so that a change is seen.
    assert set(counts) == {"kept", "rejected", "contaminated n-gram"}
    assert counts["contaminated n-gram"] == 7  # 256 validation items since issue 9
    by_id = {it["id"]: it for it in evaluation}
    for r in rejected:
        other = by_id[r["reject_reason"].rsplit(" ", 1)[1]]
        assert (other["skill"], other["phrasing"]) == (r["skill"], r["phrasing"])
        assert other["operands"] != r["operands"]


@needs_data
def test_curation_cost_3000_samples_against_1319_held_out(capsys):
    """3000 samples (1600 `arith`, all 1400 GSM-Plus rewrites of GSM8K test questions) against
    the 1319 GSM8K test questions and 1000 earlier samples: seconds, and the rewrites caught."""
    task = ArithTask()
    held = [json.loads(line)["question"] for line in (DATA / "gsm8k" / "test.jsonl").open()]
    plus = [json.loads(line) for line in (DATA / "gsm8k_plus" / "test.jsonl").open()]
    samples = task.sample(3000 - len(plus), seed=11) + [
        {"id": f"plus-{i}", "question": r["question"], "answer": r["answer"],
         "target": r["extracted_answer"], "verified": True, "type": r["type"]}
        for i, r in enumerate(plus)]
    earlier = task.sample(1000, seed=12)
    start = time.perf_counter()
    kept, rejected, counts = curate(
        task, samples, budget=3000, seen={task.signature(s) for s in earlier},
        held_out={task.signature({"question": q}) for q in held},
        held_out_texts=held, seen_texts=[item_text(s) for s in earlier])
    seconds = time.perf_counter() - start
    caught = Counter(r["type"] for r in rejected if r.get("type")
                     and r["reject_reason"].startswith("contaminated"))
    with capsys.disabled():
        print(f"\ncuration of {len(samples)} samples against {len(held)} held-out and "
              f"{len(earlier)} earlier texts: {seconds:.2f} s\n  {counts}\n"
              f"  GSM-Plus caught (of 200 each): {dict(caught)}")
    assert counts["kept"] + counts["rejected"] == 3000
    assert sum(caught.values()) >= 0.5 * len(plus)


def test_curate_samples_node_passes_held_out_and_earlier_texts(tmp_path):
    """The loop's curate node: texts of validation/test items and of earlier rounds' kept
    samples reach `curate`, and the counts per reason land in the round's metrics row."""
    from lai.graph.layout import RoundFiles
    from lai.graph.nodes import curate_samples
    from lai.graph.state import apply_update
    from lai.tools.jsonl import read_jsonl, write_jsonl

    task = ArithTask(n_mining=20, n_validation=14, n_test=14)

    def iter_dir(j):
        (tmp_path / f"iter_{j:03d}").mkdir(exist_ok=True)
        return tmp_path / f"iter_{j:03d}"

    ctx = SimpleNamespace(task=task, round=lambda j: RoundFiles(iter_dir(j)), items=task.load,
                          cfg=SimpleNamespace(instruct=SimpleNamespace(budget=50, strategy="le")),
                          ui=SimpleNamespace(info=lambda *a, **k: None))
    earlier, fresh = task.sample(1, seed=5), task.sample(3, seed=6)
    write_jsonl(iter_dir(1) / "kept.jsonl", earlier)
    val = task.load("validation")[0]
    text_only = {"skill": None, "operands": None}  # LLM-style items: no operands to compare
    generated = fresh + [
        {**earlier[0], **text_only, "id": "near-earlier",
         "question": insert_word(earlier[0]["question"], "then", at=3)},
        {**val, **text_only, "id": "leak", "question": "Please solve: " + val["question"]},
    ]
    write_jsonl(iter_dir(2) / "generated.jsonl", generated)
    state = {"iter_dir": str(iter_dir(2)), "iteration": 2, "current": {"x": 1}}
    out = apply_update(state, curate_samples(state, ctx=ctx))  # the round's row, reduced
    reasons = {r["id"]: r["reject_reason"] for r in read_jsonl(iter_dir(2) / "rejected.jsonl")}
    assert reasons["near-earlier"].startswith("near-duplicate of an earlier iteration: of "
                                              f"{earlier[0]['id']} (round 1)")
    assert reasons["leak"].startswith("contaminated n-gram")
    assert f"validation {val['id']}" in reasons["leak"]
    assert out["current"]["x"] == 1 and out["current"]["kept"] == 3
    assert out["current"]["rejected"] == {"kept": 3, "rejected": 2, "contaminated n-gram": 1,
                                          "near-duplicate of an earlier iteration": 1}
