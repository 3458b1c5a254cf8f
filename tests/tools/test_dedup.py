"""13-gram decontamination and MinHash near-duplicate detection, on real GSM8K questions."""

import json
import random
from pathlib import Path

import pytest

from lai.tools.dedup import (
    Decontaminator, NearDuplicateIndex, item_text, jaccard, lsh_params, ngrams, normalize,
    numbers, shingles,
)
from lai.tools.tasks.arith import ArithTask

GSM8K = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k" / "test.jsonl"
needs_gsm8k = pytest.mark.skipif(not GSM8K.exists(), reason="shared GSM8K data not present")


def gsm8k_questions() -> list[str]:
    return [json.loads(line)["question"] for line in GSM8K.open()]


def light_edit(text: str, n_edits: int, rng: random.Random) -> str:
    """Swap two neighbouring words or replace one, away from numbers: a light rewording."""
    w = text.split()
    for _ in range(n_edits):
        i = rng.randrange(len(w) - 1)
        if numbers(w[i] + " " + w[i + 1]):
            continue
        if rng.random() < 0.5:
            w[i], w[i + 1] = w[i + 1], w[i]
        else:
            w[i] = rng.choice(["then", "also", "each", "some", "the", "all"])
    return " ".join(w)


def test_normalisation_follows_lm_eval_harness():
    # lowercase; punctuation deleted, not replaced by a space; whitespace collapsed
    assert normalize("Janet’s ducks lay 16 eggs per day.  She sells\nthem for $2.50!") == \
        "janets ducks lay 16 eggs per day she sells them for 250"
    assert normalize("16-3-4 = 9; don't") == "1634 9 dont"
    grams = ngrams("one two three four five six seven eight nine ten eleven twelve thirteen, fourteen")
    assert grams == ["one two three four five six seven eight nine ten eleven twelve thirteen",
                     "two three four five six seven eight nine ten eleven twelve thirteen fourteen"]
    assert ngrams("too short to have a thirteen gram") == []


def test_decontaminator_13_grams_and_short_texts():
    held = ["Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and "
            "bakes muffins for her friends every day with four.",
            "What is 7 times 8?"]
    dec = Decontaminator(held)
    # 13 consecutive tokens of a held-out text inside a new, longer question (case, punctuation differ)
    inside = ("Tom keeps hens. SHE EATS three for breakfast, every morning, and bakes muffins for "
              "her friends every day! How many eggs are left?")
    assert dec.contaminated(inside) == \
        "she eats three for breakfast every morning and bakes muffins for her friends"
    assert dec.match(inside)[1] == 0
    # 12 shared tokens are not enough
    assert dec.contaminated("Tom eats three for breakfast every morning and bakes muffins for her "
                            "dog every day.") is None
    # a held-out text shorter than 13 tokens is matched as a whole, never as a part
    assert dec.contaminated("what is 7 times 8") == "what is 7 times 8"
    assert dec.match("What is 7 times 8?")[1] == 1
    assert dec.contaminated("Quick: what is 7 times 8? Then add 5.") is None
    assert dec.contaminated("") is None
    # held-out texts can be keyed by id
    assert Decontaminator({"test-3": held[1]}).match("what is 7 TIMES 8")[1] == "test-3"


def test_item_text_includes_multiple_choice_options():
    item = {"question": "Which gas do plants take in?", "choices": {"A": "Oxygen", "B": "Carbon dioxide"}}
    assert item_text(item) == "Which gas do plants take in?\nA. Oxygen\nB. Carbon dioxide"
    assert item_text({"question": "def f(x):\n    '''Add one.'''\n"}) == "def f(x):\n    '''Add one.'''\n"


def test_shingles_keep_numbers_and_read_number_words():
    assert numbers("She eats three eggs and sells 1,000 more for $2.50, half of 1/2") == \
        {"3", "1000", "2.50", "1/2"}
    assert shingles("Add 2 and 3") == {"add 2 and", "2 and 3"}
    assert shingles("Hi there") == {"hi there"}
    assert shingles("...") == set()


def test_lsh_params_reach_the_recall_target_at_the_threshold():
    for t in (0.5, 0.7, 0.8, 0.9):
        b, r = lsh_params(t, 128)
        assert b * r <= 128 and 1 - (1 - t**r) ** b >= 0.995


def test_near_duplicate_index_basics():
    idx = NearDuplicateIndex(threshold=0.7)
    a = ("Sam has 12 red apples and 7 green apples in a basket. He gives 5 apples to his sister. "
         "How many apples does Sam have now?")
    idx.add("a", a)
    idx.add("empty", "")
    assert len(idx) == 1
    assert idx.query(a) == "a"
    assert idx.query(a.replace("basket", "bag")) == "a"
    key, sim = idx.match(a.replace("basket", "bag"))
    assert key == "a" and sim == pytest.approx(jaccard(shingles(a), shingles(a.replace("basket", "bag"))))
    # the same story with other numbers is another practice problem
    assert idx.query(a.replace("12", "14")) is None
    assert NearDuplicateIndex(threshold=0.7, match_numbers=False).query(a) is None  # empty index
    loose = NearDuplicateIndex(threshold=0.7, match_numbers=False)
    loose.add("a", a)
    assert loose.query(a.replace("12", "14")) == "a"
    # "seven" and "7" are the same number
    assert idx.query(a.replace("7 green", "seven green")) == "a"
    assert idx.query("Write a function that reverses a string.") is None
    assert idx.query("") is None
    with pytest.raises(ValueError):
        NearDuplicateIndex(threshold=0)
    with pytest.raises(ValueError):
        NearDuplicateIndex(numbered_threshold=1.5)


def test_numbered_threshold_needs_two_shared_numbers():
    a = "Sam has 12 apples and buys 7 more at the shop. How many apples does he have now?"
    b = "Sam has 12 apples and he buys 7 more at the market. How many apples does he own now?"
    c = "Sam has 12 apples. How many apples does he have now?"
    d = "Sam has 12 apples. How many apples are there in all?"
    assert 0.3 < jaccard(shingles(a), shingles(b)) < 0.5
    strict, loose = NearDuplicateIndex(0.5), NearDuplicateIndex(0.5, numbered_threshold=0.3)
    for idx in (strict, loose):
        idx.add("a", a)
        idx.add("c", c)
    assert strict.query(b) is None and loose.query(b) == "a"
    assert 0.3 < jaccard(shingles(c), shingles(d)) < 0.5
    assert loose.query(d) is None  # one number in common is not enough evidence


@needs_gsm8k
def test_no_false_positives_among_distinct_gsm8k_questions():
    """1319 distinct GSM8K test questions, each checked against all before it: none is a near
    duplicate of another, even at the low held-out thresholds (0.5; 0.3 with two or more
    numbers in common)."""
    questions = gsm8k_questions()
    idx = NearDuplicateIndex(threshold=0.5, numbered_threshold=0.3)
    flagged = []
    for i, q in enumerate(questions):
        if idx.query(q) is not None:
            flagged.append(i)
        idx.add(i, q)
    assert flagged == []


@needs_gsm8k
def test_lightly_edited_gsm8k_copies_are_caught():
    questions = gsm8k_questions()[:300]
    rng = random.Random(0)
    held = NearDuplicateIndex(threshold=0.5, numbered_threshold=0.3)
    dedup = NearDuplicateIndex(threshold=0.7)
    for i, q in enumerate(questions):
        held.add(i, q)
        dedup.add(i, q)
    dec = Decontaminator(questions)
    one = [light_edit(q, 1, rng) for q in questions]
    three = [light_edit(q, 3, rng) for q in questions]
    assert sum(dedup.query(e) == i for i, e in enumerate(one)) / len(one) >= 0.95
    five = [light_edit(q, 5, rng) for q in questions]
    assert sum(held.query(e) == i for i, e in enumerate(three)) / len(three) >= 0.98
    assert sum(held.query(e) == i for i, e in enumerate(five)) / len(five) >= 0.95
    # the 13-gram rule alone misses many of them (short questions), the two together almost none
    assert sum(dec.contaminated(e) is not None for e in five) / len(five) < 0.9
    either = sum(held.query(e) == i or dec.contaminated(e) is not None for i, e in enumerate(five))
    assert either / len(five) >= 0.97


def test_arith_items_that_differ_in_numbers_are_not_near_duplicates():
    items = ArithTask().sample(200, seed=1)
    idx = NearDuplicateIndex(threshold=0.5, numbered_threshold=0.3)  # even at the held-out thresholds
    for it in items:
        assert idx.query(it["question"]) is None, it["question"]
        idx.add(it["id"], it["question"])
    # whereas without the numbers rule, same-template items would collapse
    loose = NearDuplicateIndex(threshold=0.5, match_numbers=False)
    hits = 0
    for it in items:
        hits += loose.query(it["question"]) is not None
        loose.add(it["id"], it["question"])
    assert hits > 0
