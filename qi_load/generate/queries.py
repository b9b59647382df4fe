"""The query catalogue: prompts per query type and the checks that tell a good answer.

Every check declares what it needs: generic checks (an arithmetic result, code that
compiles, a structured answer) apply to any agent; the checks of the ``file_operations`` and
``multi_tool`` prompts read facts only the reference agent's sandbox file and tools return,
so they apply when the target is declared to be the reference agent (``--reference-agent``)
or, per request, when the response identifies itself as the reference agent's.
"""

from __future__ import annotations

import ast
import operator
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qi_load.errors import ConfigError, QiLoadError
from qi_load.generate.limits import MAX_CHECKED_CODE_CHARS
from qi_load.generate.quality import QualityMode, quality_mode, reference_agent
from qi_load.vocabulary import CONVERSATION, QueryType
from qi_load.yamlconf import load_model

__all__ = [
    "CatalogueFile",
    "Check",
    "CheckPlan",
    "CheckSpec",
    "Needs",
    "QualityManifest",
    "Query",
    "QueryCatalogue",
    "arithmetic_of",
    "builtin_checks",
    "catalogue_from_options",
    "quality_manifest",
]


CheckFn = Callable[[str, int | None], tuple[bool, str]]
"""(answer text, output tokens or None) -> (passed, reason when it failed)."""

Needs = Literal["any", "reference_agent"]
"""What a check needs of the target: nothing (``any``), or the reference agent's sandbox
files and tools (``reference_agent``)."""


@dataclass(frozen=True)
class Check:
    """One named check of an answer and what it needs of the target to be meaningful."""

    name: str
    run: CheckFn = field(repr=False, compare=False)
    needs: Needs = "any"

    def applies(self, *, reference_agent: bool) -> bool:
        return self.needs == "any" or reference_agent


class CheckPlan(TypedDict):
    """The checks of one query type: which run on every answer, which only on answers whose
    response came from the reference agent, and which were skipped."""

    ran: list[str]
    reference_only: list[str]
    skipped: list[str]


@dataclass(frozen=True)
class Query:
    """One prompt of a query type, with the checks its answer must pass (all of them) and
    those that apply only to an answer from the reference agent (the target was not
    declared to be it)."""

    query_type: str
    prompt: str
    checks: tuple[Check, ...] = field(default=(), repr=False, compare=False)
    reference_checks: tuple[Check, ...] = field(default=(), repr=False, compare=False)

    def check(
        self, answer_text: str, output_tokens: int | None, *, reference_agent: bool = False
    ) -> tuple[bool | None, str]:
        """(True, "") when every check passes, (False, the first failure's reason), or
        (None, "") when no check applies. ``reference_agent``: this answer's response came
        from the reference agent, so the checks tied to it apply too."""
        checks = self.checks + self.reference_checks if reference_agent else self.checks
        if not checks:
            return None, ""
        for one in checks:
            try:
                ok, reason = one.run(answer_text, output_tokens)
            except Exception as exc:
                # A check may fail but never raise: whatever the answer, its request keeps
                # its row (user catalogue checks included).
                return False, f"{one.name} could not check the answer: {type(exc).__name__}"
            if not ok:
                return False, reason
        return True, ""


# -- built-in checks ---------------------------------------------------------------------

_NUMBER: Final = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_EXPRESSION: Final = re.compile(r"[-+*/()\d.\s]+")
_OPERATORS: Final[dict[type, Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _evaluate(node: ast.AST) -> float:
    # Only numbers, + - * / and parentheses: a safe evaluator, never eval().
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return float(_OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right)))
    raise ValueError(f"unsupported expression element {type(node).__name__}")


def arithmetic_of(prompt: str) -> tuple[str, float] | None:
    """The arithmetic expression in a prompt and its value, e.g. ("2 + 2", 4.0), or None."""
    best: tuple[str, float] | None = None
    for match in _EXPRESSION.finditer(prompt):
        text = match.group().strip().rstrip(".").strip()
        if not re.search(r"\d\s*[-+*/]\s*[\d(]", text):
            continue
        try:
            value = _evaluate(ast.parse(text, mode="eval"))
        except (SyntaxError, ValueError, ZeroDivisionError):
            continue
        if best is None or len(text) > len(best[0]):
            best = (text, value)
    return best


def _arithmetic_check(prompt: str) -> CheckFn:
    found = arithmetic_of(prompt)
    if found is None:
        raise ValueError(f"no arithmetic expression in simple prompt {prompt!r}")
    expression, expected = found

    def check(answer: str, _tokens: int | None) -> tuple[bool, str]:
        for token in _NUMBER.findall(answer):
            try:
                number = float(token.replace(",", ""))
            except ValueError:
                continue
            if abs(number - expected) <= 1e-9 * max(1.0, abs(expected)):
                return True, ""
        return False, f"answer lacks the result of {expression} = {expected:g}"

    return check


_PARAGRAPH_WORDS: Final = 25
_FENCE: Final = "```"
_LANGUAGE: Final = re.compile(r"[ \t]*+([\w+-]*+)")


def _python_block(answer: str) -> str | None:
    """The body of the first fenced block tagged python, py or nothing; None without one.

    A fence opens at three backticks (the rest of that line is its info string, which
    starts with the language) and closes at the next three backticks. One forward scan: a regex with
    overlapping repeats took quadratic time on a long line without a newline.
    """
    pos = 0
    while (start := answer.find(_FENCE, pos)) != -1:
        eol = answer.find("\n", start + len(_FENCE))
        if eol == -1:
            return None
        end = answer.find(_FENCE, eol + 1)
        if end == -1:
            return None
        language = _LANGUAGE.match(answer, start + len(_FENCE), eol)
        if language is not None and language.group(1).lower() in ("", "python", "py"):
            return answer[eol + 1 : end]
        pos = end + len(_FENCE)
    return None


def _parsed_code(answer: str) -> tuple[ast.Module | None, str]:
    """The first Python block's syntax tree, or None and why it has none."""
    block = _python_block(answer)
    if block is None:
        return None, "no ```python code block in the answer"
    if len(block) > MAX_CHECKED_CODE_CHARS:
        return None, f"code block longer than {MAX_CHECKED_CODE_CHARS} characters (not checked)"
    try:
        tree = ast.parse(block, "<answer>")
        compile(tree, "<answer>", "exec")
    except SyntaxError as exc:
        return None, f"code block does not compile: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError) as exc:
        # Lone surrogates, nesting deeper than the compiler's stack: not compilable either.
        return None, f"code block does not compile: {type(exc).__name__}"
    return tree, ""


def _compiles(answer: str, _tokens: int | None) -> tuple[bool, str]:
    tree, reason = _parsed_code(answer)
    return tree is not None, reason


def _defines_function(answer: str, _tokens: int | None) -> tuple[bool, str]:
    tree, reason = _parsed_code(answer)
    if tree is None:
        return False, reason
    if any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(tree)):
        return True, ""
    return False, "code block defines no function"


def _contains_all(*needles: str) -> CheckFn:
    def check(answer: str, _tokens: int | None) -> tuple[bool, str]:
        lowered = answer.lower()
        missing = [n for n in needles if n.lower() not in lowered]
        return (False, f"answer does not mention {', '.join(missing)}") if missing else (True, "")

    return check


def _regex(pattern: str, what: str) -> CheckFn:
    compiled = re.compile(pattern)

    def check(answer: str, _tokens: int | None) -> tuple[bool, str]:
        return (True, "") if compiled.search(answer) else (False, f"answer lacks {what}")

    return check


def _min_tokens(minimum: int) -> CheckFn:
    def check(answer: str, tokens: int | None) -> tuple[bool, str]:
        # Without a server count, whitespace words stand in for tokens (an undercount).
        n = tokens if tokens is not None else len(answer.split())
        return (True, "") if n >= minimum else (False, f"{n} output tokens < {minimum}")

    return check


def _structured(answer: str, _tokens: int | None) -> tuple[bool, str]:
    # Short sign-offs ("I hope this helps...") and repeats are not structure: a paragraph
    # counts when it is distinct and has at least _PARAGRAPH_WORDS words.
    paragraphs = {
        " ".join(p.split())
        for p in re.split(r"\n\s*\n", answer.strip())
        if len(p.split()) >= _PARAGRAPH_WORDS
    }
    headings = re.findall(r"(?m)^(?:#{1,6}\s+\S|\*\*[^*\n]+\*\*\s*$)", answer)
    if len(paragraphs) >= 3 or len(headings) >= 3:
        return True, ""
    return False, (
        f"{len(paragraphs)} paragraphs of {_PARAGRAPH_WORDS}+ words and "
        f"{len(headings)} headings (< 3)"
    )


REASONING_MIN_TOKENS: Final = 150
# The facts of the reference agent's sandbox package.json and the shapes of its tools' results.
_FILE_FACTS: Final = Check(
    "sandbox_file_facts",
    _contains_all("qi-sample-app", "1.4.2", "7 dependencies"),
    "reference_agent",
)
_WEATHER: Final = Check(
    "weather_tool_result",
    _regex(r"-?\d+(?:\.\d+)?\s?°\s?[CF]", "a temperature from get_weather"),
    "reference_agent",
)
_EVENT: Final = Check(
    "calendar_tool_result",
    _regex(r"\bevt-[0-9a-f]{8}\b", "an event id from create_calendar_event"),
    "reference_agent",
)
_DEFINES_FUNCTION: Final = Check("code_defines_function", _defines_function)
_REASONING_LENGTH: Final = Check(
    f"min_tokens_{REASONING_MIN_TOKENS}", _min_tokens(REASONING_MIN_TOKENS)
)
_STRUCTURED: Final = Check("structured_answer", _structured)


def builtin_checks(query_type: str, prompt: str) -> tuple[Check, ...]:
    """The built-in checks of ``query_type``, applicable or not (see ``Check.needs``)."""
    if query_type == "simple":
        return (Check("arithmetic_result", _arithmetic_check(prompt)),)
    if query_type == "code_generation":
        return (_DEFINES_FUNCTION,)
    if query_type == "file_operations":
        return (_FILE_FACTS,)
    if query_type == "multi_tool":
        return (_WEATHER, _EVENT)
    if query_type == "reasoning":
        return (_REASONING_LENGTH, _STRUCTURED)
    return ()


_DEFAULT_PROMPTS: Final[dict[str, tuple[str, ...]]] = {
    "simple": (
        "What is 2 + 2?",
        "What is 17 * 23?",
        "Compute (128 - 36) / 4.",
        "What is 1250 - 475 + 30?",
        "How much is 12 * (7 + 5)?",
    ),
    "code_generation": (
        "Write a Python function to sort a list",
        "Write a Python function that checks whether a string is a palindrome",
        "Write a Python function that returns the n-th Fibonacci number",
        "Write a Python function to merge two sorted lists",
    ),
    "file_operations": (
        "Read and analyze the package.json file",
        "Open package.json and summarize the project's name, version and dependencies",
        "Inspect the package.json file and tell me what it declares",
    ),
    "multi_tool": (
        "Check the weather and create a calendar event",
        "What's the weather in Paris? Then create a calendar event for a picnic tomorrow",
        "Look up the weather in Berlin and schedule a calendar event for a run at 7am",
    ),
    "reasoning": (
        "Explain the trade-offs of different sorting algorithms",
        "Compare microservices and monoliths: when is each the better architecture?",
        "Explain the trade-offs between consistency and availability in distributed databases",
    ),
}

_DEFAULT_CONVERSATIONS: Final[tuple[tuple[tuple[str, str], ...], ...]] = (
    (
        ("simple", "What is 12 * 12?"),
        ("code_generation", "Write a Python function that squares a number"),
        ("reasoning", "Explain the trade-offs of different sorting algorithms"),
    ),
    (
        ("file_operations", "Read and analyze the package.json file"),
        ("multi_tool", "Check the weather and create a calendar event"),
        ("simple", "What is 1250 - 475 + 30?"),
        ("reasoning", "Compare microservices and monoliths: when is each the better architecture?"),
    ),
)


# -- user catalogue files ----------------------------------------------------------------


class CheckSpec(BaseModel):
    """One user check; every field that is set must hold."""

    model_config = ConfigDict(extra="forbid")

    contains: str | list[str] | None = Field(
        default=None, description="Text(s) the answer must contain (case-insensitive)."
    )
    regex: str | None = Field(
        default=None, description="A regular expression the answer must match."
    )
    min_tokens: int | None = Field(default=None, ge=1, description="Minimum output tokens.")
    compiles: bool = Field(default=False, description="The first ```python block must compile.")

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    def build(self) -> tuple[Check, ...]:
        """The user's checks: written for the user's own agent, so they apply to any target."""
        checks: list[Check] = []
        if self.contains is not None:
            needles = [self.contains] if isinstance(self.contains, str) else self.contains
            checks.append(Check("catalogue_contains", _contains_all(*needles)))
        if self.regex is not None:
            checks.append(
                Check("catalogue_regex", _regex(self.regex, f"a match of /{self.regex}/"))
            )
        if self.min_tokens is not None:
            checks.append(
                Check(f"catalogue_min_tokens_{self.min_tokens}", _min_tokens(self.min_tokens))
            )
        if self.compiles:
            checks.append(Check("catalogue_compiles", _compiles))
        return tuple(checks)


class PromptSpec(BaseModel):
    """A user prompt: its text, extra checks, and whether the type's built-in check applies."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, description="The user message sent to the agent.")
    checks: list[CheckSpec] = Field(default_factory=list, description="Extra checks (all hold).")
    builtin: bool = Field(default=True, description="Also apply the query type's built-in check.")


class TurnSpec(PromptSpec):
    """One turn of a conversation."""

    type: QueryType = Field(description="Query type of this turn.")


class CatalogueFile(BaseModel):
    """A user catalogue YAML file: prompts per query type and multi-turn conversations."""

    model_config = ConfigDict(extra="forbid")

    replace: bool = Field(
        default=False, description="Replace the built-in prompts instead of adding."
    )
    queries: dict[QueryType, list[PromptSpec | str]] = Field(
        default_factory=dict, description="Prompts per query type (a string = built-in check)."
    )
    conversations: list[list[TurnSpec]] = Field(
        default_factory=list, description="Multi-turn conversations, one list of turns each."
    )


def _to_query(query_type: str, spec: PromptSpec | str, *, reference_agent: bool) -> Query:
    if isinstance(spec, str):
        spec = PromptSpec(prompt=spec)
    checks = builtin_checks(query_type, spec.prompt) if spec.builtin else ()
    for extra in spec.checks:
        checks += extra.build()
    return Query(
        query_type=query_type,
        prompt=spec.prompt,
        checks=tuple(c for c in checks if c.applies(reference_agent=reference_agent)),
        reference_checks=tuple(c for c in checks if not c.applies(reference_agent=reference_agent)),
    )


class QueryCatalogue:
    """Prompts per query type and conversations; ``pick`` draws one with a caller's RNG."""

    def __init__(
        self,
        queries: Mapping[str, Sequence[Query]],
        conversations: Sequence[Sequence[Query]] = (),
    ) -> None:
        self.queries: dict[str, tuple[Query, ...]] = {t: tuple(q) for t, q in queries.items() if q}
        self.conversations: tuple[tuple[Query, ...], ...] = tuple(
            tuple(c) for c in conversations if c
        )

    @classmethod
    def default(cls, *, reference_agent: bool = False) -> QueryCatalogue:
        """The built-in catalogue: the methodology's example first in every type. The checks
        tied to the reference agent's sandbox and tools run only with ``reference_agent``."""
        ref = reference_agent
        return cls(
            {
                t: [_to_query(t, p, reference_agent=ref) for p in prompts]
                for t, prompts in _DEFAULT_PROMPTS.items()
            },
            [
                [_to_query(t, p, reference_agent=ref) for t, p in turns]
                for turns in _DEFAULT_CONVERSATIONS
            ],
        )

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        base: QueryCatalogue | None = None,
        *,
        reference_agent: bool = False,
    ) -> QueryCatalogue:
        """``base`` (the default catalogue if None) merged with a user file; QiLoadError if bad.

        The user's own checks apply to any target; built-in checks as in ``default``."""
        path = Path(path)
        spec = load_model(path, CatalogueFile, what="query catalogue", empty_ok=True)
        user: dict[str, list[Query]] = {}
        conversations: list[list[Query]] = []
        try:
            for query_type, prompts in spec.queries.items():
                for i, prompt in enumerate(prompts):
                    where = f"queries.{query_type}[{i}]"
                    user.setdefault(query_type, []).append(
                        _to_query(query_type, prompt, reference_agent=reference_agent)
                    )
            for c, turns in enumerate(spec.conversations):
                conversation = []
                for i, turn in enumerate(turns):
                    where = f"conversations[{c}][{i}]"
                    conversation.append(_to_query(turn.type, turn, reference_agent=reference_agent))
                conversations.append(conversation)
        except ValueError as exc:
            raise ConfigError(f"{path}: {where}: {exc}") from None
        base = base if base is not None else cls.default(reference_agent=reference_agent)
        return base.merged(user, conversations, replace=spec.replace)

    def merged(
        self,
        queries: Mapping[str, Sequence[Query]],
        conversations: Sequence[Sequence[Query]] = (),
        *,
        replace: bool = False,
    ) -> QueryCatalogue:
        """A new catalogue with ``queries`` added to (or, with ``replace``, instead of) these."""
        merged: dict[str, list[Query]] = {t: list(q) for t, q in self.queries.items()}
        for query_type, extra in queries.items():
            merged[query_type] = (
                list(extra) if replace else merged.get(query_type, []) + list(extra)
            )
        convs = (
            list(conversations)
            if replace and conversations
            else [*self.conversations, *conversations]
        )
        return QueryCatalogue(merged, convs)

    def pick(self, query_type: str, rng: random.Random) -> Query:
        """A random prompt of ``query_type``; QiLoadError for a type with no prompts."""
        try:
            return rng.choice(self.queries[query_type])
        except KeyError:
            known = ", ".join(sorted(self.queries))
            raise QiLoadError(
                f"query type {query_type!r} has no prompts (known: {known})"
            ) from None

    def check_plan(self) -> dict[str, CheckPlan]:
        """Per query type (and ``conversation``), the names of the checks that run on every
        answer and of those that run only on answers from the reference agent, for the run
        directory and report."""
        groups: dict[str, list[Query]] = {t: list(q) for t, q in self.queries.items()}
        if self.conversations:
            groups[CONVERSATION] = [q for turns in self.conversations for q in turns]
        plan: dict[str, CheckPlan] = {}
        for query_type, queries in groups.items():
            ran = {c.name: None for q in queries for c in q.checks}
            ref = {c.name: None for q in queries for c in q.reference_checks if c.name not in ran}
            plan[query_type] = CheckPlan(ran=list(ran), reference_only=list(ref), skipped=[])
        return plan

    def conversation(self, rng: random.Random) -> tuple[Query, ...]:
        """The turns of a random conversation."""
        if not self.conversations:
            raise QiLoadError("the query catalogue has no conversations")
        return rng.choice(self.conversations)


def catalogue_from_options(options: Any) -> QueryCatalogue:
    """The catalogue that parsed Locust options ask for (``--queries``, ``--reference-agent``)."""
    extra = str(getattr(options, "queries", "") or "") if options is not None else ""
    ref = reference_agent(options)
    if extra:
        return QueryCatalogue.from_yaml(extra, reference_agent=ref)
    return QueryCatalogue.default(reference_agent=ref)


class QualityManifest(TypedDict):
    """The ``quality`` section of run.json: the switch, the target declaration, the checks."""

    mode: QualityMode
    reference_agent: bool
    checks: dict[str, CheckPlan]


def quality_manifest(options: Any) -> QualityManifest:
    """What the answer checks of a run are (QiLoadError for a bad ``--queries`` file)."""
    mode = quality_mode(options)
    plan = catalogue_from_options(options).check_plan()
    if mode == "off":
        # No check runs at all: every declared one is reported as skipped.
        plan = {
            t: CheckPlan(ran=[], reference_only=[], skipped=p["ran"] + p["reference_only"])
            for t, p in plan.items()
        }
    return QualityManifest(mode=mode, reference_agent=reference_agent(options), checks=plan)
