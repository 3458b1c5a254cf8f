"""Decontamination (long shared n-grams with held-out items) and near-duplicate detection
(MinHash + LSH over word shingles), the text side of curation (`lai.tools.curation`).

Two rules, two tokenisations:

* **13-gram contamination**, as lm-evaluation-harness does it (`lm_eval/decontamination/
  janitor.py`: `Janitor.normalize_string` then `word_ngrams`): lowercase, *delete* punctuation
  (no space put in its place, so "don't" → "dont", "$2.50" → "250", "16-3-4" → "1634"), split
  on whitespace, every window of 13 tokens. The harness deletes ASCII `string.punctuation`
  and lowercases ASCII letters only; here every character that is neither a word character
  nor whitespace is deleted, and `_` too (a superset: "Janet’s" with a typographic apostrophe
  and "Janet's" both become "janets"), and lowercasing is Unicode `str.lower`. A sample is
  contaminated when any of its 13-grams is a 13-gram of a held-out text. A text shorter than
  13 tokens has no 13-gram; the harness then never flags it. Here such held-out texts are
  matched as a whole instead: a sample whose whole normalised text equals a held-out item's
  whole normalised text is contaminated, whatever its length (so a short test question copied
  verbatim is still caught; a short sample *inside* a longer held-out text is not, which would
  flag generic phrases).

* **Near duplicates**: Jaccard similarity of the sets of 3-word shingles, estimated by MinHash
  (128 permutations) and searched with LSH (datasketch), then confirmed exactly on the stored
  shingle sets, so LSH only proposes candidates and never decides. Tokens for shingles: lower
  case words and numbers, where a number keeps its decimal point or fraction slash ("2.50",
  "1/2"), loses thousands commas ("1,000" → "1000"), and number words up to twenty, the tens,
  "hundred", "thousand", "million", "twice", "half" and "dozen" become digits ("three" → "3"),
  so a rewording that writes a number differently still shares it. **Numbers decide**: by
  default two texts are near duplicates only if their *sets of numbers are equal*. A math
  problem with other numbers is another practice problem (the built-in `arith` task defines
  item identity as skill + operands), and without this rule the template-made `arith` problems
  of one skill, which differ in little else, collapse (two `arith` items that differ in one
  operand reach Jaccard 0.67). When two texts share the same two or more numbers, that is
  strong evidence by itself, and a lower Jaccard can be accepted (`numbered_threshold`).

  MinHash rather than sentence embeddings, measured on GSM8K / GSM-Plus on this project's
  2-core CPU: MiniLM took 75 s to embed the 1319 GSM8K test questions (curation must take
  seconds), and embeddings rank a question with *other numbers* (GSM-Plus "numerical
  substitution", median cosine 0.96 to its original) as closer than a true rewording (GSM-Plus
  "problem understanding", median 0.91), while distinct `arith` items of one template sit at
  cosine 0.82. MinHash is lexical, deterministic, needs no model, and with the numbers rule does
  not merge problems that differ in their numbers. What it cannot see: a full rewording that
  shares almost no 3-word phrase (GSM-Plus "problem understanding": median Jaccard 0.05; the
  13-gram and near-duplicate rules together catch 1% of those).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

_DELETE = re.compile(r"[^\w\s]|_")
_WORD = re.compile(r"\d+(?:,\d{3})*(?:[./]\d+)?|[^\W\d_]+")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({w: str(10 * i) for i, w in enumerate(
    "thirty forty fifty sixty seventy eighty ninety".split(), start=3)})
_NUMBER_WORDS.update(hundred="100", thousand="1000", million="1000000", twice="2",
                     half="1/2", dozen="12")


def item_text(item: Mapping[str, Any]) -> str:
    """The text of an item that dedup and decontamination compare: its question (for code
    items, the prompt) and, for multiple choice, its options (`choices`) one per line."""
    text = str(item.get("question") or "")
    choices = item.get("choices")
    if isinstance(choices, Mapping):
        text += "".join(f"\n{k}. {v}" for k, v in choices.items())
    elif isinstance(choices, (list, tuple)):
        text += "".join(f"\n{v}" for v in choices)
    return text


# ------------------------------------------------------------------ n-gram contamination

def normalize(text: str) -> str:
    """lm-evaluation-harness style: lowercase, punctuation deleted, whitespace collapsed."""
    return " ".join(_DELETE.sub("", text.lower()).split())


def ngrams(text: str, n: int = 13) -> list[str]:
    """The word n-grams of the normalised text (none when it has fewer than n tokens)."""
    tokens = normalize(text).split()
    return [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


class Decontaminator:
    """Flags texts that share an n-gram (default 13 tokens) with a held-out text, or that
    equal a held-out text as a whole (texts shorter than n tokens). See the module docstring."""

    def __init__(self, held_out_texts: Iterable[str] | Mapping[Hashable, str], n: int = 13):
        self.n = n
        self._grams: dict[str, Hashable] = {}
        self._whole: dict[str, Hashable] = {}
        for key, text in keyed_texts(held_out_texts):
            norm = normalize(text)
            if norm:
                self._whole.setdefault(norm, key)
            for gram in ngrams(text, n):
                self._grams.setdefault(gram, key)

    def __len__(self) -> int:
        return len(self._whole)

    def match(self, text: str) -> tuple[str, Hashable] | None:
        """(the shared n-gram, or the whole normalised text; the held-out key) or None."""
        norm = normalize(text)
        if norm in self._whole:
            return norm, self._whole[norm]
        tokens = norm.split()
        for i in range(len(tokens) - self.n + 1):
            gram = " ".join(tokens[i:i + self.n])
            if gram in self._grams:
                return gram, self._grams[gram]
        return None

    def contaminated(self, text: str) -> str | None:
        """The matching n-gram (or whole normalised text), or None if the text is clean."""
        found = self.match(text)
        return found[0] if found else None


# ------------------------------------------------------------------ near duplicates

def words(text: str) -> list[str]:
    """Tokens for shingles: lowercase words and numbers, number words as digits."""
    out = []
    for tok in _WORD.findall(text.lower()):
        tok = _NUMBER_WORDS.get(tok, tok)
        out.append(tok.replace(",", "") if tok[0].isdigit() else tok)
    return out


def shingles(text: str, k: int = 3) -> set[str]:
    """The set of k-word shingles (the whole token list as one shingle when it is shorter)."""
    return _shingles(words(text), k)


def numbers(text: str) -> frozenset[str]:
    """The set of numbers a text mentions (digits, or number words turned into digits)."""
    return _numbers(words(text))


def _shingles(toks: list[str], k: int) -> set[str]:
    if len(toks) <= k:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i:i + k]) for i in range(len(toks) - k + 1)}


def _numbers(toks: list[str]) -> frozenset[str]:
    return frozenset(t for t in toks if t[0].isdigit())


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


class NearDuplicateIndex:
    """Texts indexed by MinHash LSH; `query` returns the key of the most similar indexed text
    whose exact shingle Jaccard is at least `threshold` (and, with `match_numbers`, whose
    numbers are the same set), or None.

    Args:
        threshold: Jaccard of the shingle sets at or above which two texts are near duplicates.
        k: words per shingle.
        num_perm: MinHash permutations (more: better LSH recall, slower).
        match_numbers: also require the two texts' sets of numbers to be equal.
        numbered_threshold: a lower Jaccard that suffices when the two texts have the same set
            of at least two numbers (with `match_numbers`); None: `threshold` always. The same
            numbers are strong evidence on their own: no two distinct GSM8K test questions,
            and no two distinct `arith` items, with the same numbers reach Jaccard 0.2.
            Candidates for it come from an exact lookup by number set, not from LSH.
        seed: MinHash seed (the index is deterministic).

    LSH is tuned for recall (`lsh_params`): bands of as many rows as keep the chance that a
    pair at exactly `threshold` shares a band at 99.5% or more; every candidate is then checked
    exactly on the stored shingle sets, so LSH false positives cost a set intersection and
    never a wrong answer, and pairs above the threshold are missed with at most 0.5% chance.
    """

    def __init__(self, threshold: float = 0.7, k: int = 3, num_perm: int = 128,
                 match_numbers: bool = True, numbered_threshold: float | None = None,
                 seed: int = 1):
        from datasketch import MinHashLSH

        for name, t in (("threshold", threshold), ("numbered_threshold", numbered_threshold)):
            if t is not None and not 0.0 < t <= 1.0:
                raise ValueError(f"near-duplicate {name} must be in (0, 1], got {t}")
        self.threshold, self.k, self.match_numbers = threshold, k, match_numbers
        self.numbered_threshold = numbered_threshold if match_numbers else None
        self._num_perm, self._seed = num_perm, seed
        self._lsh = MinHashLSH(num_perm=num_perm, params=lsh_params(threshold, num_perm))
        self._entries: list[tuple[Hashable, frozenset[str], frozenset[str]]] = []
        self._by_numbers: dict[frozenset[str], list[int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, key: Hashable, text: str) -> None:
        """Index a text under `key` (keys need not be unique; empty texts are not indexed)."""
        sh, nums, mh = _sketch(text, self.k, self._num_perm, self._seed)
        if sh:
            self._lsh.insert(len(self._entries), mh, check_duplication=False)
            if len(nums) >= 2:
                self._by_numbers.setdefault(nums, []).append(len(self._entries))
            self._entries.append((key, sh, nums))

    def match(self, text: str) -> tuple[Hashable, float] | None:
        """(key, exact Jaccard) of the closest near duplicate, or None."""
        sh, nums, mh = _sketch(text, self.k, self._num_perm, self._seed)
        if not sh or not self._entries:
            return None
        candidates = set(self._lsh.query(mh))
        threshold = self.threshold
        if self.numbered_threshold is not None and len(nums) >= 2:
            candidates.update(self._by_numbers.get(nums, ()))
            threshold = min(threshold, self.numbered_threshold)
        best: tuple[Hashable, float] | None = None
        for idx in sorted(candidates):  # sorted: ties go to the earliest added
            key, other, other_nums = self._entries[idx]
            if self.match_numbers and nums != other_nums:
                continue
            sim = jaccard(sh, other)
            if sim >= threshold and (best is None or sim > best[1]):
                best = (key, sim)
        return best

    def query(self, text: str) -> Hashable | None:
        """The key of the closest near duplicate, or None."""
        found = self.match(text)
        return found[0] if found else None


@functools.lru_cache(maxsize=1024)
def _sketch(text: str, k: int, num_perm: int, seed: int):
    """(shingle set, number set, MinHash) of a text; cached, since curation asks the same
    text of several indexes."""
    from datasketch import MinHash

    toks = words(text)
    sh = frozenset(_shingles(toks, k))
    mh = MinHash(num_perm=num_perm, seed=seed, permutations=_permutations(num_perm, seed),
                 scheme="affine32")
    mh.update_batch([s.encode("utf-8") for s in sh])
    return sh, _numbers(toks), mh


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int):
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=seed).permutations


def lsh_params(threshold: float, num_perm: int, recall: float = 0.995) -> tuple[int, int]:
    """(bands, rows) for LSH: the most rows per band (fewest false candidates) such that two
    sets with Jaccard `threshold` share at least one band with probability >= `recall`
    (P = 1 - (1 - t^r)^b, b = num_perm // r)."""
    best = (num_perm // 1, 1)
    for r in range(1, num_perm // 2 + 1):
        b = num_perm // r
        if 1 - (1 - threshold**r) ** b >= recall:
            best = (b, r)
    return best


def keyed_texts(texts: Iterable[str] | Mapping[Hashable, str]) -> Iterable[tuple[Hashable, str]]:
    """(key, text) pairs: a mapping's items, or a list's texts keyed by position."""
    return texts.items() if isinstance(texts, Mapping) else enumerate(texts)
