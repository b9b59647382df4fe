"""The query catalogue: built-in checks pass good answers and fail wrong ones; user YAML."""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import pytest

from qi_load.errors import QiLoadError
from qi_load.generate.queries import (
    Check,
    CheckSpec,
    Query,
    QueryCatalogue,
    arithmetic_of,
    catalogue_from_options,
    quality_manifest,
)
from qi_load.vocabulary import QUERY_TYPES

CODE = "Here you go:\n```python\ndef sort_list(items):\n    return sorted(items)\n```\n"
REASONING = "\n\n".join(f"## Part {i}\n" + " ".join(["word"] * 60) for i in range(1, 4))


def query(query_type: str, prompt: str | None = None):  # type: ignore[no-untyped-def]
    catalogue = QueryCatalogue.default(reference_agent=True)
    candidates = catalogue.queries[query_type]
    return next(q for q in candidates if prompt is None or q.prompt == prompt)


def test_default_has_every_type_methodology_example_first_and_several_prompts() -> None:
    catalogue = QueryCatalogue.default()
    assert tuple(catalogue.queries) == QUERY_TYPES
    assert catalogue.queries["simple"][0].prompt == "What is 2 + 2?"
    assert (
        catalogue.queries["code_generation"][0].prompt == "Write a Python function to sort a list"
    )
    assert (
        catalogue.queries["file_operations"][0].prompt == "Read and analyze the package.json file"
    )
    assert (
        catalogue.queries["multi_tool"][0].prompt == "Check the weather and create a calendar event"
    )
    assert (
        catalogue.queries["reasoning"][0].prompt
        == "Explain the trade-offs of different sorting algorithms"
    )
    assert all(len(q) >= 3 for q in catalogue.queries.values())
    assert catalogue.conversations and all(len(c) >= 3 for c in catalogue.conversations)


@pytest.mark.parametrize(
    ("prompt", "expression", "value"),
    [
        ("What is 2 + 2?", "2 + 2", 4),
        ("Compute (128 - 36) / 4.", "(128 - 36) / 4", 23),
        ("How much is 12 * (7 + 5)?", "12 * (7 + 5)", 144),
        ("In 2024, what is 3 - 10?", "3 - 10", -7),
        ("What is -3 * 2?", "-3 * 2", -6),
    ],
)
def test_arithmetic_is_evaluated_safely(prompt: str, expression: str, value: float) -> None:
    assert arithmetic_of(prompt) == (expression, value)


def test_arithmetic_rejects_non_arithmetic() -> None:
    assert arithmetic_of("What is the capital of France?") is None
    assert arithmetic_of("What is 1 / 0?") is None
    assert arithmetic_of("__import__('os').system('x') + 1") is None


def test_simple_check() -> None:
    q = query("simple", "What is 17 * 23?")
    assert q.check("17 * 23 = 391", 5) == (True, "")
    assert q.check("The answer is 391.0.", 5)[0]
    ok, reason = q.check("17 * 23 = 392", 5)
    assert not ok and "17 * 23 = 391" in reason
    assert query("simple", "What is 1250 - 475 + 30?").check("It is 805", 3)[0]
    assert not query("simple", "What is 1250 - 475 + 30?").check("It is 1,250", 3)[0]


def test_code_generation_check() -> None:
    q = query("code_generation")
    assert q.check(CODE, 30) == (True, "")
    assert q.check("```\ndef f():\n    pass\n```", 5)[0]  # untagged fence
    assert q.check("no code here", 3) == (False, "no ```python code block in the answer")
    ok, reason = q.check("```python\ndef broken(:\n```", 5)
    assert not ok and "does not compile" in reason
    ok, reason = q.check("```python\nx = 1\n```", 5)
    assert not ok and "defines no function" in reason
    ok, reason = q.check("```js\nfunction f() {}\n```\n```py\ndef g(): pass\n```", 5)
    assert ok, reason  # the first Python block counts, other languages are skipped


COMPILE_BREAKERS = {
    "null byte": "def f():\n    return 1\x00",
    "deep unary": "-" * 100_000 + "1",
    "deep attribute": "a" + ".b" * 100_000,
    "long sum": "+".join(["a"] * 200_000),
    "nested lambdas": "lambda: " * 5000 + "1",
    "nested parentheses": "(" * 300 + ")" * 300,
    "lone surrogate": "def f():\n    return '\ud800'",
    "deep indentation": "".join(" " * i + "if x:\n" for i in range(200)) + " " * 200 + "pass",
    "too long": "def f():\n    pass\n" + "x = 1\n" * 100_000,
}


@pytest.mark.parametrize("code", COMPILE_BREAKERS.values(), ids=COMPILE_BREAKERS.keys())
def test_code_that_breaks_the_compiler_fails_the_check_without_raising(code: str) -> None:
    for q in (query("code_generation"), Query("code_generation", "p", checks=_compiles_check())):
        ok, reason = q.check(f"```python\n{code}\n```", 5)
        assert ok is False and ("compile" in reason or "longer than" in reason), reason


def _compiles_check() -> tuple[Check, ...]:
    return CheckSpec(compiles=True).build()


def test_a_check_that_raises_fails_the_answer() -> None:
    def boom(_answer: str, _tokens: int | None) -> tuple[bool, str]:
        raise RecursionError

    assert Query("simple", "p", checks=(Check("boom", boom),)).check("x", 1) == (
        False,
        "boom could not check the answer: RecursionError",
    )


def test_fences_are_found_in_linear_time() -> None:
    q = query("code_generation")
    started = time.process_time()
    # A fence opener followed by a long line without its newline, and many unclosed openers:
    # the old regex backtracked over both (minutes for these).
    assert q.check("```" + "a" * 1_000_000, 5)[0] is False
    assert q.check("```a\n" + "```python" * 200_000, 5)[0] is False
    assert time.process_time() - started < 1.0


def test_file_operations_check() -> None:
    q = query("file_operations")
    good = "package.json declares qi-sample-app version 1.4.2 with 7 dependencies."
    assert q.check(good, 20)[0]
    ok, reason = q.check("qi-sample-app version 1.4.3 with 7 dependencies", 20)
    assert not ok and "1.4.2" in reason


def test_multi_tool_check() -> None:
    q = query("multi_tool")
    assert q.check("Weather: 18°C, sunny. Created event evt-1a2b3c4d.", 30)[0]
    assert not q.check("Weather: 18°C, sunny. I could not create the event.", 30)[0]
    assert not q.check("Created event evt-1a2b3c4d, no weather.", 30)[0]


def test_reasoning_check() -> None:
    q = query("reasoning")
    assert q.check(REASONING, 200)[0]
    ok, reason = q.check(REASONING, 120)
    assert not ok and "< 150" in reason
    ok, reason = q.check(" ".join(["word"] * 200), 200)
    assert not ok and "paragraphs" in reason
    # one real paragraph padded with repeated sign-offs is not structure
    signoff = "I hope this helps. Let me know if you would like more detail."
    ok, reason = q.check("\n\n".join([" ".join(["word"] * 200), signoff, signoff, signoff]), 250)
    assert not ok and "1 paragraphs" in reason
    plain = "\n\n".join(" ".join([f"w{i}"] * 30) for i in range(3))  # three real paragraphs
    assert q.check(plain, 200)[0]
    assert q.check(REASONING, None)[0]  # falls back to counting words


def test_pick_is_reproducible_and_unknown_type_errors() -> None:
    catalogue = QueryCatalogue.default()
    a = [catalogue.pick("simple", random.Random(7)).prompt for _ in range(3)]
    b = [catalogue.pick("simple", random.Random(7)).prompt for _ in range(3)]
    assert a == b
    with pytest.raises(QiLoadError, match="'nope'"):
        catalogue.pick("nope", random.Random(1))
    assert catalogue.conversation(random.Random(1))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "queries.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_yaml_adds_prompts_and_checks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
queries:
  simple:
    - "What is 40 + 2?"
    - prompt: "Say hello and compute 6 * 7"
      checks: [{contains: hello}, {regex: "\\\\b42\\\\b"}]
  reasoning:
    - prompt: "Explain caching"
      builtin: false
      checks: [{min_tokens: 10, contains: [cache, memory]}]
  code_generation:
    - prompt: "Write code"
      builtin: false
      checks: [{compiles: true}]
conversations:
  - - {type: simple, prompt: "What is 1 + 1?"}
    - {type: reasoning, prompt: "Why?", builtin: false}
""",
    )
    catalogue = QueryCatalogue.from_yaml(path)
    default = QueryCatalogue.default()
    assert len(catalogue.queries["simple"]) == len(default.queries["simple"]) + 2
    hello = catalogue.queries["simple"][-1]
    assert hello.check("hello, 6 * 7 = 42", 5)[0]
    assert not hello.check("6 * 7 = 42", 5)[0]  # user check fails
    assert not hello.check("hello, 6 * 7 = 43", 5)[0]  # built-in check fails
    caching = catalogue.queries["reasoning"][-1]
    assert caching.check("a cache keeps memory " * 3, 12)[0]
    assert not caching.check("a cache keeps memory", 4)[0]
    assert catalogue.queries["code_generation"][-1].check("```python\nx = 1\n```", 3)[0]
    assert len(catalogue.conversations) == len(default.conversations) + 1
    assert [q.query_type for q in catalogue.conversations[-1]] == ["simple", "reasoning"]


def test_user_yaml_replace(tmp_path: Path) -> None:
    path = write(tmp_path, "replace: true\nqueries:\n  simple: ['What is 1 + 2?']\n")
    catalogue = QueryCatalogue.from_yaml(path)
    assert [q.prompt for q in catalogue.queries["simple"]] == ["What is 1 + 2?"]
    assert "reasoning" in catalogue.queries  # other types keep the built-in prompts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("queries:\n  simpel: ['x']\n", "queries.simpel"),
        (
            "queries:\n  simple:\n    - prompt: 'What is 1 + 1?'\n      checks: [{regex: '('}]\n",
            "regex",
        ),
        ("queries:\n  simple:\n    - prompt: 'a'\n      checks: [{min_tokens: 0}]\n", "min_tokens"),
        ("queries:\n  simple: ['What is the capital of France?']\n", "queries.simple[0]"),
        ("queries:\n  simple: [\n", "invalid YAML"),
        ("conversations:\n  - - {type: chat, prompt: hi}\n", "conversations[0][0].type"),
        ("extra: 1\n", "extra"),
    ],
)
def test_bad_user_yaml_names_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(QiLoadError) as info:
        QueryCatalogue.from_yaml(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(QiLoadError, match="query catalogue file not found"):
        QueryCatalogue.from_yaml(tmp_path / "nope.yaml")


GENERIC = {
    "simple": ("What is 17 * 23?", "17 * 23 = 391", 5),
    "code_generation": ("Write a Python function to sort a list", CODE, 30),
    "reasoning": ("Explain the trade-offs of different sorting algorithms", REASONING, 200),
}


@pytest.mark.parametrize("reference_agent", [False, True])
def test_generic_checks_apply_to_any_agent(reference_agent: bool) -> None:
    catalogue = QueryCatalogue.default(reference_agent=reference_agent)
    for query_type, (prompt, answer, tokens) in GENERIC.items():
        q = next(q for q in catalogue.queries[query_type] if q.prompt == prompt)
        assert q.checks and not q.reference_checks
        assert q.check(answer, tokens)[0] is True
        assert q.check("generic text", 2)[0] is False


def _ref_names(q: Query) -> tuple[str, ...]:
    return tuple(c.name for c in q.reference_checks)


def test_reference_checks_only_for_the_reference_agent() -> None:
    other = QueryCatalogue.default()
    for query_type in ("file_operations", "multi_tool"):
        for q in other.queries[query_type]:
            assert q.checks == ()
            assert q.check("anything at all", 3) == (None, "")
    assert _ref_names(other.queries["file_operations"][0]) == ("sandbox_file_facts",)
    assert _ref_names(other.queries["multi_tool"][0]) == (
        "weather_tool_result",
        "calendar_tool_result",
    )
    reference = QueryCatalogue.default(reference_agent=True)
    assert reference.queries["multi_tool"][0].check("no tools used", 3)[0] is False
    assert reference.queries["multi_tool"][0].reference_checks == ()


def test_an_answer_from_the_reference_agent_gets_its_checks_undeclared() -> None:
    # Not declared: the response's x-qi-load-agent header decides, per request.
    q = QueryCatalogue.default().queries["file_operations"][0]
    good = "qi-sample-app version 1.4.2 with 7 dependencies"
    assert q.check(good, 20) == (None, "")
    assert q.check(good, 20, reference_agent=True) == (True, "")
    ok, reason = q.check("no idea", 2, reference_agent=True)
    assert ok is False and "qi-sample-app" in reason
    simple = QueryCatalogue.default().queries["simple"][0]
    assert simple.check("2 + 2 = 4", 3, reference_agent=True) == (True, "")


def test_check_plan_lists_ran_and_reference_only_per_type() -> None:
    plan = QueryCatalogue.default().check_plan()
    none: list[str] = []
    assert plan["simple"] == {"ran": ["arithmetic_result"], "reference_only": none, "skipped": none}
    assert plan["code_generation"]["ran"] == ["code_defines_function"]
    assert plan["reasoning"]["ran"] == ["min_tokens_150", "structured_answer"]
    assert plan["file_operations"] == {
        "ran": none, "reference_only": ["sandbox_file_facts"], "skipped": none
    }  # fmt: skip
    assert plan["multi_tool"]["reference_only"] == ["weather_tool_result", "calendar_tool_result"]
    # conversations mix every type's turns
    assert "arithmetic_result" in plan["conversation"]["ran"]
    assert "sandbox_file_facts" in plan["conversation"]["reference_only"]
    full = QueryCatalogue.default(reference_agent=True).check_plan()
    assert full["file_operations"] == {
        "ran": ["sandbox_file_facts"], "reference_only": none, "skipped": none
    }  # fmt: skip


def test_user_checks_apply_to_any_agent(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
queries:
  file_operations:
    - prompt: "Read my config.toml"
      checks: [{contains: port}]
""",
    )
    catalogue = QueryCatalogue.from_yaml(path)
    mine = catalogue.queries["file_operations"][-1]
    assert [c.name for c in mine.checks] == ["catalogue_contains"]
    assert _ref_names(mine) == ("sandbox_file_facts",)
    assert mine.check("port = 8080", 4) == (True, "")
    assert mine.check("no idea", 2)[0] is False
    plan = catalogue.check_plan()["file_operations"]
    assert plan == {
        "ran": ["catalogue_contains"], "reference_only": ["sandbox_file_facts"], "skipped": []
    }  # fmt: skip


def test_quality_manifest_follows_the_options(tmp_path: Path) -> None:
    options = argparse.Namespace(quality="record", reference_agent=False, queries="")
    manifest = quality_manifest(options)
    assert manifest["mode"] == "record" and manifest["reference_agent"] is False
    assert manifest["checks"]["file_operations"]["reference_only"] == ["sandbox_file_facts"]
    off = quality_manifest(argparse.Namespace(quality="off", reference_agent=True, queries=""))
    assert all(not p["ran"] for p in off["checks"].values())
    assert "arithmetic_result" in off["checks"]["simple"]["skipped"]
    off_undeclared = quality_manifest(argparse.Namespace(quality="off", queries=""))
    assert off_undeclared["checks"]["file_operations"] == {
        "ran": [], "reference_only": [], "skipped": ["sandbox_file_facts"]
    }  # fmt: skip
    assert quality_manifest(None)["mode"] == "record"
    bad = write(tmp_path, "queries:\n  simpel: ['x']\n")
    with pytest.raises(QiLoadError, match="simpel"):
        catalogue_from_options(argparse.Namespace(queries=str(bad)))
