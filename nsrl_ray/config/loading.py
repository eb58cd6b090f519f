"""Turn plain YAML/JSON data into frozen config dataclasses, refusing unknown keys and wrong types."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value is wrong; the message names the key path, what was given and what is allowed."""


class ConfigTypeError(ConfigError, TypeError):
    """A config value has the wrong type."""


def suggest(word: str, choices: typing.Iterable[str]) -> str:
    """Return " Did you mean 'x'?" for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return f"a list of {len(args)} values ({', '.join(_describe(a) for a in args)})"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, path: str) -> Any:
    """Convert ``value`` to type ``tp`` or raise a ConfigError naming ``path``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, path)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            hint = suggest(str(value), [str(a) for a in allowed])
            raise ConfigError(
                f"{path}: got {value!r}, expected {_describe(tp)}.{hint}"
            )
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise ConfigTypeError(f"{path}: got null, expected {_describe(tp)}.")
        tagged = _convert_tagged(options, value, path)
        if tagged is not _NOT_TAGGED:
            return tagged
        errors: list[ConfigError] = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, path)
            except ConfigError as error:
                errors.append(error)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigTypeError(f"{path}: got {value!r}, expected {_describe(tp)}.")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigTypeError(
                f"{path}: got {type(value).__name__} {value!r}, expected {_describe(tp)}."
            )
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], item, _join(path, i)) for i, item in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(
                f"{path}: got {len(value)} values {list(value)!r}, expected {_describe(tp)}."
            )
        return tuple(_convert(a, item, _join(path, i)) for i, (a, item) in enumerate(zip(args, value)))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigTypeError(f"{path}: got {value!r}, expected true or false.")
        return value
    if tp is int:
        # bool is an int in Python; a YAML `yes` for a count is a mistake, not a 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigTypeError(f"{path}: got {value!r}, expected an integer.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigTypeError(f"{path}: got {value!r}, expected a number.")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigTypeError(f"{path}: got {value!r}, expected a string.")
        return value
    raise TypeError(f"config loader cannot handle type {tp!r} at {path}")  # a bug in a schema


_NOT_TAGGED = object()


def _tag_values(option: Any, tag: str) -> tuple[Any, ...]:
    hint = typing.get_type_hints(option).get(tag)
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else ()


def _convert_tagged(options: tuple[Any, ...], value: Any, path: str) -> Any:
    """A union of settings dataclasses told apart by a Literal field (e.g. `learner`): pick by its value.

    The first option is the default when the mapping leaves the tag out.
    """
    choices = [o for o in options if o is not type(None)]
    if len(choices) < 2 or not all(dataclasses.is_dataclass(o) for o in choices) or not isinstance(value, Mapping):
        return _NOT_TAGGED
    common = set.intersection(*({f.name for f in dataclasses.fields(o)} for o in choices))
    tags = [name for name in sorted(common) if all(_tag_values(o, name) for o in choices)]
    if not tags:
        return _NOT_TAGGED
    tag = tags[0]
    chosen = value.get(tag, _tag_values(choices[0], tag)[0])
    for option in choices:
        if chosen in _tag_values(option, tag):
            return from_mapping(option, value, path)
    allowed = [v for o in choices for v in _tag_values(o, tag)]
    raise ConfigError(
        f"{_join(path, tag)}: got {chosen!r}, expected one of {', '.join(map(repr, allowed))}.{suggest(str(chosen), map(str, allowed))}"
    )


def from_mapping(cls: type[T], data: Any, path: str = "") -> T:
    """Build the frozen dataclass ``cls`` from ``data``, checking every key and value.

    Unknown keys are refused with a suggestion; a missing required key is named; a value
    error raised by the dataclass's own ``__post_init__`` is prefixed with the key path.
    """
    where = path or "the experiment file"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigTypeError(f"{where}: got {type(data).__name__} {data!r}, expected a mapping of keys to values.")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"{_join(path, str(key))}: unknown key '{key}'.{suggest(str(key), fields)}"
                f" Allowed keys at {where}: {', '.join(sorted(fields))}."
            )
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], _join(path, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{_join(path, name)}: required key is missing ({_describe(hints[name])}).")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as error:
        # Checks in __post_init__ start their message with the field name: make it a full key path.
        message = str(error)
        head, sep, rest = message.partition(": ")
        if sep and head in fields:
            raise type(error)(f"{_join(path, head)}: {rest}") if isinstance(error, ConfigError) else ConfigError(
                f"{_join(path, head)}: {rest}"
            ) from None
        raise ConfigError(f"{where}: {message}") from None


def to_mapping(obj: Any) -> Any:
    """Inverse of ``from_mapping``: plain dicts, lists and scalars (YAML/JSON friendly)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # A None that is also the default is left out: for a stage, `stage: null` would read back
        # as "run it with defaults", and for any other field leaving it out means the same.
        return {
            f.name: to_mapping(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not (getattr(obj, f.name) is None and f.default is None)
        }
    if isinstance(obj, tuple):
        return [to_mapping(item) for item in obj]
    return obj
