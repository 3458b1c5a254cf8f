"""Python function-writing tasks in HumanEval form: MBPP, HumanEval and any such JSONL/JSON.

Items: `question` = the prompt (imports, signature and docstring), `answer` = the reference
solution as a whole function (with its imports; empty when the source has none, as in the
shared MBPP files), `target` = `entry_point` = the function's name, `test` = a
`def check(candidate): assert ...` function.

Grading is pass@1, as HumanEval's harness does it: the program `question + completion`, then
`test`, then `check(<entry_point>)` runs in the sandbox (`lai.tools.sandbox`) and must exit 0
within `timeout` seconds. What counts as the completion (`extract_code`): the first fenced
code block that defines a function (else the first ```python / ``` block); without a fence,
the reply from its first top-level `def`/`import`/`from`/`class` line, else the whole reply as
the body of the prompt's function. A completion that defines the entry point is a whole
function: it follows the prompt (so the prompt's imports and helpers stay defined) and
replaces its stub. Top-level `if __name__ == "__main__":` blocks are dropped.
"""

from __future__ import annotations

import ast
import hashlib
import math
import re
from typing import Any

from lai.tools.errors import LaiError
from lai.tools.sources import RowError, SourcedTask, get_field, item_id
from lai.tools.tasks.base import Item, Messages, Task, register_task
from lai.tools.tasks.blocks import parse_blocks

CODE_CATEGORIES = (
    "no code", "syntax error", "misread the task", "wrong algorithm", "off-by-one or boundary case",
    "wrong return type or format", "missing import or helper", "runtime error", "too slow",
)
"""The error categories the analyst picks from (fills `{categories}` in the prompts)."""

INSTRUCTION = ("Complete the following Python function. Reply with the whole function, "
               "including any imports it needs, in one ```python code block.")

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.S | re.M)
_TOP_CODE = re.compile(r"^(?:async\s+def|def|import|from|class)\s", re.M)
_MAIN = re.compile(r"^if\s+__name__\s*==\s*['\"]__main__['\"]\s*:[^\n]*\n(?:(?:[ \t]+[^\n]*|[ \t]*)(?:\n|$))*",
                   re.M)
_PY = ("", "python", "py", "python3", "py3")


# ---------------------------------------------------------------- completions


def _fences(text: str) -> list[tuple[str, str, int, int]]:
    return [(m[1].lower(), m[2], m.start(), m.end()) for m in _FENCE.finditer(text or "")]


def drop_main_block(code: str) -> str:
    """Code without its top-level `if __name__ == "__main__":` block."""
    return _MAIN.sub("", code)


def extract_code(response: str | None) -> str | None:
    """The code a reply submits (see the module docstring), or None for an empty reply."""
    if not response or not response.strip():
        return None
    fences = _fences(response)
    if fences:
        python = [f for f in fences if f[0] in _PY] or fences
        pick = next((f for f in python if re.search(r"^\s*(?:async\s+)?def\s", f[1], re.M)), python[0])
        return drop_main_block(pick[1]).rstrip() + "\n"
    m = _TOP_CODE.search(response)
    if m:
        return drop_main_block(response[m.start():]).rstrip() + "\n"
    return response.rstrip() + "\n"


def defines(code: str, name: str) -> bool:
    return re.search(rf"^[ \t]*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code or "", re.M) is not None


def build_program(item: Item, code: str) -> str:
    """`prompt + completion` (or `prompt` then a whole function), the tests, `check(entry_point)`."""
    prompt = item["question"] if item["question"].endswith("\n") else item["question"] + "\n"
    body = f"{prompt}\n{code}" if defines(code, item["entry_point"]) else prompt + code
    return f"{body.rstrip()}\n\n\n{item['test'].strip()}\n\n\ncheck({item['entry_point']})\n"


def count_asserts(test: str) -> int:
    """`assert` statements in test code (0 when it does not parse)."""
    try:
        return sum(isinstance(n, ast.Assert) for n in ast.walk(ast.parse(test)))
    except (SyntaxError, ValueError):
        return 0


def check_function(asserts: list[str], entry_point: str | None) -> str:
    """`def check(candidate):` around assert lines, calls of `entry_point` made on `candidate`."""
    lines = []
    for a in asserts:
        a = a.strip()
        if entry_point:
            a = re.sub(rf"(?<![\w.]){re.escape(entry_point)}\s*\(", "candidate(", a)
        lines.append(f"    {a}")
    return "def check(candidate):\n" + "\n".join(lines) + "\n"


def _limits(timeout: float):
    from lai.tools.sandbox import SandboxLimits

    return SandboxLimits(timeout_s=float(timeout), cpu_s=max(1, math.ceil(timeout)))


def _failure(res: Any) -> str:
    if res.ok:
        return "passed"
    if res.timed_out:
        return "timed out"
    lines = [ln for ln in (res.stderr or "").strip().splitlines() if ln.strip()]
    if lines:
        return "\n".join(lines[-12:])
    return res.reason


# ---------------------------------------------------------------- parsing


def _top_functions(code: str) -> list[ast.FunctionDef]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _is_stub(fn: ast.FunctionDef) -> bool:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                          and s.value.value is Ellipsis) for s in body)


def _imports(code: str) -> str:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return ""
    return "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def make_prompt(solution: str, entry_point: str, description: str) -> str | None:
    """A HumanEval-style prompt: the solution's imports, the entry point's signature, and a
    docstring holding `description`; None when the solution does not define the function."""
    fn = next((f for f in _top_functions(solution) if f.name == entry_point), None)
    if fn is None:
        return None
    description = description.strip() or (ast.get_docstring(fn) or "").strip()
    stub = ast.parse(ast.unparse(fn)).body[0]
    indented = "\n    ".join(description.replace('"""', "'''").splitlines())
    stub.body = [ast.Expr(ast.Constant(f"{indented}\n    "))]
    imports = _imports(solution)
    return (f"{imports}\n\n\n" if imports else "") + ast.unparse(stub) + "\n"


def describe_only(description: str, entry_point: str) -> str:
    """A prompt for a task known only by its description (no signature anywhere): the
    description as comments, naming the function. Only a whole function can complete it."""
    lines = [f"# {ln.strip()}".rstrip() for ln in description.strip().splitlines()]
    return "\n".join([*lines, f"# Write it as a Python function named `{entry_point}`."]) + "\n"


def _called_names(asserts: list[str]) -> list[str]:
    names = []
    for a in asserts:
        for n in re.findall(r"(?<![\w.])([A-Za-z_]\w*)\s*\(", a):
            if n not in names:
                names.append(n)
    return names


def pick_entry_point(solution: str, asserts: list[str], given: str | None = None) -> str | None:
    """The function the tests call: `given`, else the first solution function called in an
    assert, else the solution's last top-level function."""
    names = [f.name for f in _top_functions(solution)]
    if given:
        return given if given in names or not names else None
    called = [n for n in _called_names(asserts) if n in names]
    return called[0] if called else (names[-1] if names else None)


def split_asserts(code: str) -> tuple[str, list[str]]:
    """Code without its top-level `assert` lines (multi-line ones too), and those asserts."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        lines = code.splitlines()
        found = [ln for ln in lines if re.match(r"assert\s", ln)]
        return "\n".join(ln for ln in lines if ln not in found), found
    lines = code.splitlines()
    drop, found = set(), []
    for node in tree.body:
        if isinstance(node, ast.Assert):
            found.append(ast.get_source_segment(code, node) or ast.unparse(node))
            drop.update(range(node.lineno - 1, (node.end_lineno or node.lineno)))
    return "\n".join(ln for i, ln in enumerate(lines) if i not in drop), found


_LABEL = re.compile(
    r"^[ \t>*_\-]*(?:#{1,4}[ \t]*)?(?:\*\*)?(?:\d+[.)][ \t]*)?(?:problem|question|task|exercise|"
    r"description|prompt|instruction)s?[ \t]*#?\d*[ \t]*(?:\*\*)?[ \t]*[.:)]?[ \t]*(?:\*\*)?", re.I | re.M)
_SECTION = re.compile(
    r"^[ \t>*_\-]*(?:#{1,4}[ \t]*)?(?:\*\*)?(?:reference\s+|correct\s+)?(?:solution|answer|code|"
    r"tests?|test\s+cases|unit\s+tests|assertions|entry[ _]point|function\s+name|explanation)"
    r"[ \t]*(?:\*\*)?[ \t]*:?[ \t]*(?:\*\*)?", re.I | re.M)
_BLOCK_START = re.compile(
    r"^[ \t>*_\-]*(?:#{1,4}[ \t]*)?(?:\*\*)?(?:\d+[.)][ \t]*)?(?:problem|question|task|exercise)"
    r"[ \t]*#?\d*[ \t]*(?:\*\*)?[ \t]*[.:)]?", re.I | re.M)
_NUMBERED = re.compile(r"^[ \t]*(?:\*\*)?\d+[.)][ \t]+\S", re.M)


def code_blocks(text: str) -> list[str]:
    """A reply cut into one block per problem at `Problem 1` / `### Task 2` / `Question:` lines
    (else at `1.` numbering), never inside a code fence."""
    text = (text or "").replace("\r\n", "\n")
    spans = [(a, b) for *_, a, b in _fences(text)]

    def outside(pos: int) -> bool:
        return not any(a <= pos < b for a, b in spans)

    starts = [m.start() for m in _BLOCK_START.finditer(text) if outside(m.start())]
    if not starts:
        starts = [m.start() for m in _NUMBERED.finditer(text) if outside(m.start())]
    if not starts:
        return [text] if text.strip() else []
    return [text[s:e] for s, e in zip(starts, starts[1:] + [len(text)])]


def parse_code_block(block: str) -> tuple[dict | None, str]:
    """One problem block → `{question, answer, test, entry_point}` or `(None, reason)`."""
    fences = [(lang, code) for lang, code, *_ in _fences(block) if lang in _PY]
    first_fence = _FENCE.search(block)
    outside = _FENCE.sub("\n", block)
    given = re.search(r"(?:entry[ _]point|function\s+name)\s*(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*`?([A-Za-z_]\w*)",
                      outside, re.I)
    asserts: list[str] = []
    check = None
    solution = prompt = None
    for _, code in fences:
        code = drop_main_block(code)
        if re.search(r"^def\s+check\s*\(", code, re.M):
            check = check or code.strip() + "\n"
            continue
        rest, found = split_asserts(code)
        asserts += found
        fns = _top_functions(rest)
        if fns and all(_is_stub(f) for f in fns):
            prompt = prompt or rest.strip() + "\n"
        elif fns and solution is None:
            solution = rest.strip() + "\n"
    asserts += [ln.strip() for ln in outside.splitlines() if re.match(r"^[ \t>*\-]*`?assert\s", ln)]
    asserts = [a.strip(" `*->") for a in asserts]
    asserts = [a for a in asserts if a.startswith("assert")]
    if solution is None:
        return None, "no solution code"
    if not asserts and check is None:
        return None, "no tests (asserts or a check function)"
    entry = pick_entry_point(solution, asserts, given[1] if given else None)
    if entry is None:
        return None, "cannot tell which function the tests call"
    test = check or check_function(asserts, entry)
    head = block[: first_fence.start()] if first_fence else outside
    head = _SECTION.split(head, maxsplit=1)[0]
    description = "\n".join(ln.strip() for ln in _LABEL.sub("", head).splitlines() if ln.strip())
    if prompt is None or not defines(prompt, entry):
        prompt = make_prompt(solution, entry, description)
    if prompt is None:
        return None, f"the solution does not define {entry}()"
    return {"question": prompt, "answer": solution, "test": test, "entry_point": entry}, "ok"


def _normalize(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").lower()).split())


# ---------------------------------------------------------------- tasks


@register_task("code_jsonl")
class CodeTask(SourcedTask, Task):
    """Python function tasks from any JSONL/JSON file or Hugging Face dataset in HumanEval form.

    Rows: `question` (or `prompt`): imports, signature and docstring, or a plain description
    when the solution is whole (the prompt is then built from its signature); `test`: a
    `def check(candidate)` function, or a list of assert lines (MBPP's `test_list`); a
    description with neither signature nor solution becomes comments naming the function
    (one row of the shared MBPP train file is like that);
    `entry_point` (else the prompt's last function, else the function the asserts call);
    optional `answer` (or `canonical_solution`, `solution`, `code`: a body or a whole
    function) and `id` (or `task_id`). The original MBPP on the Hub loads with
    `fields: {question: text, test: test_list}`. Options: see
    `SourcedTask`, plus `timeout` (seconds per sandbox run, default 5) and `workers`
    (parallel runs in `grade_many`, default all cores).
    """

    name = "code_jsonl"
    version = 1
    family = "code"
    categories = CODE_CATEGORIES

    def __init__(self, *, timeout: float = 5.0, workers: int | None = None, **options: Any):
        super().__init__(**options)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise LaiError(f"task {self.name!r}: option timeout must be a number of seconds > 0, got {timeout!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise LaiError(f"task {self.name!r}: option workers must be an integer >= 1, got {workers!r}")
        self.timeout, self.workers = float(timeout), workers

    # -------------------------------------------------------------- data

    def convert(self, row: dict, default_id: str) -> Item:
        question = get_field(row, "question", aliases=("prompt",))
        test = get_field(row, "test", (str, list), aliases=("test_list", "tests"))
        if isinstance(test, list) and not all(isinstance(t, str) for t in test):
            raise RowError("field 'test' should be a check function or a list of assert strings",
                           field="test")
        solution = get_field(row, "answer", aliases=("canonical_solution", "solution", "code"),
                             required=False, nonempty=False) or ""
        entry = get_field(row, "entry_point", required=False)
        if entry is None:
            fns = _top_functions(question)
            entry = fns[-1].name if fns else pick_entry_point(solution, test if isinstance(test, list) else [])
            if entry is None:
                raise RowError("no 'entry_point' field and no function in the prompt or solution",
                               field="entry_point")
        entry = entry.strip()
        if not entry.isidentifier():
            raise RowError(f"entry_point {entry!r} is not a Python name", field="entry_point")
        if isinstance(test, list):
            test = check_function(test, entry)
        if not defines(question, entry):  # a plain description (original MBPP's `text`)
            question = make_prompt(solution, entry, question) if defines(solution, entry) else \
                describe_only(question, entry)
        if solution.strip() and not defines(solution, entry):
            solution = (question if question.endswith("\n") else question + "\n") + solution
        return {"id": item_id(row, default_id, self.name), "question": question,
                "answer": solution.strip("\n") + "\n" if solution.strip() else "",
                "target": entry, "test": test, "entry_point": entry}

    # -------------------------------------------------------------- target side

    def prompt(self, item: Item) -> Messages:
        return [{"role": "user", "content": f"{INSTRUCTION}\n\n```python\n{item['question'].rstrip()}\n```"}]

    def completion(self, item: Item) -> str:
        """The reference solution in a python fence ("" when the source has none)."""
        return f"```python\n{item['answer'].rstrip()}\n```" if item.get("answer", "").strip() else ""

    def extract(self, response: str, item: Item | None = None) -> str | None:
        return extract_code(response)

    def program(self, extracted: str, item: Item) -> str:
        return build_program(item, extracted)

    def grade(self, extracted: str | None, item: Item) -> bool:
        return self.grade_many([extracted], [item])[0]

    def grade_many(self, extracted_list: list[str | None], items: list[Item]) -> list[bool]:
        """pass@1 of each completion, run in parallel in the sandbox; None grades False."""
        return [r is not None and r.ok for r in self.run_many(extracted_list, items)]

    def run_many(self, extracted_list: list[str | None], items: list[Item]) -> list[Any]:
        """Sandbox results (None for a missing completion), in input order."""
        from lai.tools.sandbox import run_many

        if len(extracted_list) != len(items):
            raise ValueError("grade_many: one extracted answer per item")
        todo = [(i, self.program(x, it)) for i, (x, it) in enumerate(zip(extracted_list, items)) if x]
        results = run_many([p for _, p in todo], limits=_limits(self.timeout), workers=self.workers)
        out: list[Any] = [None] * len(items)
        for (i, _), res in zip(todo, results):
            out[i] = res
        return out

    # -------------------------------------------------------------- instructor side

    def show(self, item: Item, response: str | None = None) -> str:
        """Problem, the student's reply and what running its tests printed, the reference
        solution (when there is one) and the tests."""
        parts = [("Problem", f"```python\n{item['question'].rstrip()}\n```"),
                 ("Function to write", item["entry_point"])]
        if response is not None:
            code = self.extract(response)
            result = self.run_many([code], [item])[0]
            parts += [("Student's answer", response.strip() or "(empty)"),
                      ("Test result", "no code" if result is None else _failure(result))]
        if item.get("answer", "").strip():
            parts.append(("Correct solution", f"```python\n{item['answer'].rstrip()}\n```"))
        parts.append(("Tests", f"```python\n{item['test'].strip()}\n```"))
        return "\n\n".join(f"### {header}\n{body}" for header, body in parts)

    def _finish(self, raw: dict) -> Item:
        body = f"{raw['question']}\n{raw['answer']}\n{raw['test']}"
        return {"id": f"{self.name}-gen-{hashlib.sha1(body.encode()).hexdigest()[:10]}",
                "question": raw["question"], "answer": raw["answer"], "target": raw["entry_point"],
                "test": raw["test"], "entry_point": raw["entry_point"]}

    def parse_with_rejects(self, text: str) -> tuple[list[Item], list[dict]]:
        """Problems from a free-text reply: per problem (`### Problem 1`, `1. Task:`, ...), a
        description or a stub fence, a solution fence, and tests as a `Tests:` block of asserts
        (in a fence or as plain lines), asserts after the solution, or a `def check(candidate)`;
        plus the blocks that could not be read (`{"text", "reason"}`)."""
        return parse_blocks(code_blocks(text), parse_code_block, self._finish)

    def from_fields(self, d: dict) -> Item | None:
        """An item from `{prompt, solution, tests, entry_point}`: `prompt` a stub (signature +
        docstring) or a plain description, `solution` a whole function or the stub's body,
        `tests` a list of assert strings or a `def check(candidate)` function. None when a part
        is missing."""
        if not isinstance(d, dict):
            return None
        prompt, solution = str(d.get("prompt") or "").strip(), str(d.get("solution") or "")
        tests = d.get("tests", d.get("test"))
        given = str(d.get("entry_point") or "").strip() or None
        if not prompt or not solution.strip() or not tests:
            return None
        if isinstance(tests, str):
            rest, asserts = split_asserts(tests)
            check = tests.strip() + "\n" if re.search(r"^def\s+check\s*\(", tests, re.M) else None
            if check is None and not asserts:
                asserts = [ln.strip() for ln in tests.splitlines() if ln.strip().startswith("assert")]
        elif isinstance(tests, list):
            asserts, check = [str(t).strip() for t in tests if str(t).strip()], None
        else:
            return None
        stub = prompt + "\n" if _top_functions(prompt) else None
        if not defines(solution, given or "") and stub:
            fns = _top_functions(stub)
            given = given or (fns[-1].name if fns else None)
            if given and not defines(solution, given):
                solution = stub + solution
        entry = pick_entry_point(solution, asserts, given)
        if entry is None:
            return None
        if stub is None or not defines(stub, entry):
            stub = make_prompt(solution, entry, prompt if stub is None else "")
            if stub is None:
                return None
        test = check or check_function(asserts, entry)
        return self._finish({"question": stub, "answer": solution.strip("\n") + "\n", "test": test,
                             "entry_point": entry})

    def verify(self, item: Item) -> tuple[bool, str]:
        """Tests exist (at least one assert), the reference solution defines the entry point and
        passes them in the sandbox, and the bare prompt (the unimplemented stub) fails them."""
        entry = str(item.get("entry_point") or "")
        if not str(item.get("question") or "").strip():
            return False, "empty prompt"
        if not entry.isidentifier():
            return False, f"bad entry point {entry!r}"
        if not str(item.get("answer") or "").strip():
            return False, "no reference solution"
        if not defines(item["answer"], entry):
            return False, f"the solution does not define {entry}()"
        test = str(item.get("test") or "")
        if count_asserts(test) == 0:
            return False, "no tests: the check function has no assert"
        from lai.tools.sandbox import run_many

        programs = [build_program(item, item["answer"]), build_program(item, "")]
        full, bare = run_many(programs, limits=_limits(self.timeout), workers=self.workers)
        if not full.ok:
            return False, f"the solution fails its tests: {_failure(full).splitlines()[-1][:300]}"
        if bare.ok:
            return False, "the tests pass without any solution (they test nothing)"
        return True, "ok"

    def signature(self, item: Item) -> str:
        """Entry point plus the normalized prompt text."""
        return f"{item.get('entry_point', '')}:{_normalize(str(item.get('question', '')))}"


@register_task("mbpp")
class MbppTask(CodeTask):
    """MBPP in HumanEval form. Default: the shared `mbpp/train.jsonl` for mining and
    `mbpp/test.jsonl` divided by seed into validation and test. The shared files carry no
    reference solutions, so `answer` is empty (the instructor sees the tests instead)."""

    name = "mbpp"
    default_on_bad_row = "skip"
    defaults = {"mining": "mbpp/train.jsonl", "validation": "mbpp/test.jsonl", "test": "mbpp/test.jsonl"}


@register_task("humaneval")
class HumanEvalTask(CodeTask):
    """HumanEval. Default: the shared `humaneval/test.jsonl` (164 problems) divided by seed."""

    name = "humaneval"
    default_on_bad_row = "skip"
    defaults = {"mining": "humaneval/test.jsonl", "validation": "humaneval/test.jsonl",
                "test": "humaneval/test.jsonl"}
