"""Load YAML files into typed models, with errors people can act on.

An error names the file, the line and the key path, shows the bad value
(masked for keys that look secret), lists the allowed values and suggests
the closest one::

    civiclake.yaml, line 7, key `engine.name`: 'duckbd' is not allowed.
    Allowed: 'duckdb', 'spark' (did you mean `duckdb`?)
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from civiclake.config.suggest import did_you_mean
from civiclake.exceptions import ConfigError

M = TypeVar("M", bound=BaseModel)

_SECRET_KEY = re.compile(r"(pass|secret|token|key|url|credential)", re.IGNORECASE)


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file; a syntax error names the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {exc.problem}") from exc
    return data, node


def load_model(path: Path, model: type[M], *, defaults: dict[str, Any] | None = None) -> M:
    """Read ``path`` and validate it into ``model``."""
    data, node = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    if defaults:
        data = {**defaults, **data}
    return validate(data, model, path=path, node=node)


def validate(data: dict[str, Any], model: type[M], *, path: Path, node: Any = None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(err, model, path, node) for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def _describe(err: Any, model: type[BaseModel], path: Path, node: Any) -> str:
    loc = [p for p in err["loc"] if not _is_union_tag(p)]
    key = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(node, loc)
    where = f"{path}, line {line}" if line else f"{path}"
    value = err.get("input")
    shown = "***" if _SECRET_KEY.search(key) else repr(value)
    kind = err["type"]
    if kind == "literal_error":
        allowed = _literal_values(model, loc)
        options = ", ".join(repr(a) for a in allowed)
        hint = did_you_mean(str(value), [str(a) for a in allowed])
        return f"{where}, key `{key}`: {shown} is not allowed. Allowed: {options}{hint}"
    if kind == "extra_forbidden":
        allowed_keys = _field_names(model, loc[:-1])
        hint = did_you_mean(str(loc[-1]), allowed_keys)
        return (
            f"{where}, key `{key}`: unknown key{hint}. Allowed keys here: {', '.join(allowed_keys)}"
        )
    if kind == "missing":
        return f"{where}, key `{key}`: required but missing"
    message = err["msg"].removeprefix("Value error, ")
    return f"{where}, key `{key}`: {message} (got {shown})"


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _line_of(node: Any, loc: list[Any]) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its closest existing parent)."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = None
            for k, v in node.value:
                if k.value == str(part):
                    found = (k, v)
                    break
            if found is None:
                return line
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _field_type(model: type[BaseModel], loc: list[Any]) -> Any:
    """The annotation at ``loc`` inside ``model`` (walking lists and nested models)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else current
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            args = typing.get_args(current)
            current = args[-1] if args else None
    return _unwrap(current)


def _unwrap(tp: Any) -> Any:
    """Strip Optional / Annotated layers."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) == 1:
            return models[0]
    return tp


def _literal_values(model: type[BaseModel], loc: list[Any]) -> list[Any]:
    tp = _field_type(model, loc)
    if typing.get_origin(tp) is typing.Literal:
        return list(typing.get_args(tp))
    values: list[Any] = []
    for arg in typing.get_args(tp):
        if typing.get_origin(arg) is typing.Literal:
            values.extend(typing.get_args(arg))
    return values


def _field_names(model: type[BaseModel], loc: list[Any]) -> list[str]:
    tp = _field_type(model, loc) if loc else model
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []
