"""YAML config files: read with line numbers, apply dotted overrides, explain errors in one line."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from qi_load.errors import ConfigError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NESTING",
    "FieldError",
    "Located",
    "apply_overrides",
    "explain_validation_error",
    "format_path",
    "load_model",
    "parse_override",
    "parse_overrides",
    "read_yaml_mapping",
    "suggest",
]

PathToken = str | int
ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_NESTING: Final = 32
"""Deepest nesting of mappings and lists a config file may have (real ones need < 10)."""
MAX_FILE_BYTES: Final = 16 * 1024 * 1024
"""Largest config file read (real ones are a few KB); a bigger one is a wrong path."""


class FieldError(ValueError):
    """A validator's error about a field below the model being validated (``loc``)."""

    def __init__(self, loc: Sequence[PathToken], message: str) -> None:
        super().__init__(message)
        self.loc = tuple(loc)


class Located:
    """A parsed YAML mapping plus the line of each node, to point errors at the file."""

    def __init__(self, file: str, data: dict[str, Any], root: yaml.Node | None) -> None:
        self.file = file
        self.data = data
        self._root = root

    def line_of(self, path: Sequence[PathToken]) -> int | None:
        """1-based line of the deepest node along ``path`` that exists in the file."""
        node = self._root
        line = None if node is None else node.start_mark.line + 1
        for token in path:
            child = _child(node, token)
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line


def _child(node: yaml.Node | None, token: PathToken) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(token):
                found: yaml.Node = value
                return found
    if (
        isinstance(node, yaml.SequenceNode)
        and isinstance(token, int)
        and 0 <= token < len(node.value)
    ):
        item: yaml.Node = node.value[token]
        return item
    return None


def read_yaml_mapping(path: Path, *, what: str = "scenario", empty_ok: bool = False) -> Located:
    """Parse ``path`` as a YAML mapping; every problem becomes a one-line ``ConfigError``.

    JSON files read too (JSON is YAML). ``empty_ok``: an empty file is an empty mapping."""
    file = str(path)
    if not path.exists():
        raise ConfigError(f"{file}: {what} file not found")
    if path.is_dir():
        raise ConfigError(f"{file}: is a directory, expected a {what} YAML file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                f"{file}: {size} bytes, more than a {what} file can be "
                f"({MAX_FILE_BYTES // (1024 * 1024)} MiB)"
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read ({exc.strerror})") from None
    # Parsed once: the checked node tree is the one constructed (safe_load would parse again).
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = None
        if root is not None:
            _check_depth(file, root)
            _reject_duplicate_keys(file, root, [])
            data = loader.construct_document(root)
    except RecursionError:
        raise ConfigError(
            f"{file}: nested deeper than {MAX_NESTING} levels of mappings and lists"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        problem = exc.problem or exc.context or "syntax error"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise ConfigError(_one_line(f"{where}: invalid YAML: {problem}{context}")) from None
    except yaml.YAMLError as exc:
        raise ConfigError(_one_line(f"{file}: invalid YAML: {exc}")) from None
    finally:
        loader.dispose()
    if data is None:
        if empty_ok:
            return Located(file, {}, None)
        raise ConfigError(f"{file}: empty file, expected a mapping of {what} fields")
    if not isinstance(data, dict):
        line = root.start_mark.line + 1 if root is not None else 1
        raise ConfigError(
            f"{file}:{line}: expected a mapping of {what} fields (key: value), got {_kind(data)}"
        )
    return Located(file, data, root)


def load_model(
    path: Path | str,
    model: type[ModelT],
    *,
    what: str,
    overrides: Mapping[str, Any] | None = None,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    empty_ok: bool = False,
) -> ModelT:
    """The one config loader: read ``path``, apply ``overrides`` (dotted paths) and
    ``prepare`` (defaults a model cannot express), validate into ``model``; any mistake is
    a one-line ``ConfigError``: ``file:line: field.path: problem``."""
    located = read_yaml_mapping(Path(path), what=what, empty_ok=empty_ok)
    overridden = apply_overrides(located.data, overrides or {})
    data = prepare(located.data) if prepare is not None else located.data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise explain_validation_error(exc, located, model, overridden) from None


def _check_depth(file: str, root: yaml.Node) -> None:
    """Iterative, so a hostile file cannot exhaust the stack here."""
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ConfigError(
                f"{file}:{node.start_mark.line + 1}: nested deeper than {MAX_NESTING} levels "
                "of mappings and lists"
            )
        if isinstance(node, yaml.MappingNode):
            stack.extend((value, depth + 1) for _key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)


def _reject_duplicate_keys(file: str, node: yaml.Node, path: list[PathToken]) -> None:
    # PyYAML silently keeps the last of two equal keys; a copy-paste slip would go unnoticed.
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                where = format_path(path) or "top level"
                raise ConfigError(
                    f"{file}:{key.start_mark.line + 1}: {where}: duplicate key {name!r}"
                )
            seen.add(name)
            _reject_duplicate_keys(file, value, [*path, name])
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _reject_duplicate_keys(file, item, [*path, index])


def parse_override(text: str) -> tuple[str, Any]:
    """``"stages.0.users=3"`` -> ``("stages.0.users", 3)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. stages.0.users=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Several ``KEY=VALUE`` strings (later ones win) as an overrides mapping."""
    return dict(parse_override(item) for item in items)


def _split_key(key: str) -> list[PathToken]:
    tokens: list[PathToken] = []
    for part in re.split(r"\.|\[(\d+)\]", key):
        if part is None or part == "":
            continue
        tokens.append(int(part) if part.isdigit() else part)
    return tokens


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, str]:
    """Set each dotted path (``stages.0.users`` or ``stages[0].users``) in ``data``.

    String values are read as YAML scalars (``"3"`` -> 3) so CLI text and typed values
    behave alike. Returns ``{field path: "KEY=VALUE"}`` so errors can name the override.
    """
    applied: dict[str, str] = {}
    for key, value in overrides.items():
        if isinstance(value, str):
            value = parse_override(f"{key}={value}")[1]
        tokens = _split_key(key)
        label = f"{key}={value}"
        if not tokens:
            raise ConfigError(f"override {label!r}: empty key")
        node: Any = data
        for depth, token in enumerate(tokens):
            last = depth == len(tokens) - 1
            where = format_path(tokens[:depth]) or "the top level"
            if isinstance(node, list):
                if not isinstance(token, int) or not 0 <= token < len(node):
                    raise ConfigError(
                        f"override {label!r}: {where} is a list of {len(node)}, "
                        f"expected an index 0..{len(node) - 1} instead of {token!r}"
                    )
            elif isinstance(node, dict):
                token = str(token)
                if not last and node.get(token) is None:
                    node[token] = {}
            else:
                raise ConfigError(f"override {label!r}: {where} is {_kind(node)}, not a mapping")
            if last:
                node[token] = value
            else:
                node = node[token]
        applied[format_path(tokens)] = label
    return applied


def format_path(path: Sequence[PathToken]) -> str:
    """``("stages", 2, "users")`` -> ``stages[2].users``."""
    text = ""
    for token in path:
        if isinstance(token, int):
            text += f"[{token}]"
        else:
            text += f".{token}" if text else str(token)
    return text


def suggest(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for a close match, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def explain_validation_error(
    exc: ValidationError,
    located: Located,
    model: type[BaseModel],
    overridden: Mapping[str, str] | None = None,
) -> ConfigError:
    """The first validation error as one line: ``file:line: field.path: problem``."""
    # An unknown key is usually a misspelt one, which also makes its field "missing":
    # report the misspelling first.
    rank = {"extra_forbidden": 0, "missing": 2}
    errors = sorted(exc.errors(include_url=False), key=lambda e: rank.get(e["type"], 1))
    err = errors[0]
    loc = [token for token in err["loc"] if token != "[key]"]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        loc += cause.loc
    path = format_path(loc)
    problem = _problem(err, model, loc)
    source = ""
    for set_path, label in (overridden or {}).items():
        if path == set_path or path.startswith((set_path + ".", set_path + "[")):
            source = f" (set by override {label})"
            break
    line = None if source else located.line_of(loc)
    where = f"{located.file}:{line}" if line else located.file
    more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    text = f"{where}: {path or 'top level'}: {problem}{source}"
    return ConfigError(_one_line(text + (more if len(errors) > 1 else "")))


def _problem(err: ErrorDetails, model: type[BaseModel], loc: list[PathToken]) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    msg = str(err["msg"])
    if kind == "extra_forbidden":
        name = str(loc[-1])
        allowed = _fields_at(model, loc[:-1])
        listing = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"unknown field {name!r}{suggest(name, allowed)}{listing}"
    if kind == "missing":
        return f"missing required field {str(loc[-1])!r}"
    if kind in ("value_error", "assertion_error"):
        return re.sub(r"^(Value|Assertion) error, ", "", msg)
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = suggest(str(value), choices) if isinstance(value, str) else ""
        return f"expected one of {', '.join(choices)}, got {_show(value)}{hint}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping (key: value), got {_show(value)}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length', 1)} item, got an empty list"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<"}
    bounds["less_than_equal"] = "<="
    if kind in bounds:
        bound = next(iter(ctx.values()), "?")
        bound = f"{bound:g}" if isinstance(bound, int | float) else bound
        return f"expected a value {bounds[kind]} {bound}, got {_show(value)}"
    if msg.startswith("Input should be "):
        return f"expected {msg.removeprefix('Input should be ')}, got {_show(value)}"
    return f"{msg[:1].lower()}{msg[1:]} (got {_show(value)})"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({_show(value)})"


def _fields_at(model: type[BaseModel], loc: Sequence[PathToken]) -> list[str]:
    """Field names of the model found by following ``loc`` from ``model``."""
    annotation: Any = model
    for token in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(token))
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        # INPUT_ONLY_FIELDS: keys a model's before-validator accepts and converts.
        return [*annotation.model_fields, *getattr(annotation, "INPUT_ONLY_FIELDS", ())]
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _one_line(text: str) -> str:
    return " ".join(text.split())
