"""Search spaces written inline in an experiment file (`lr: {loguniform: [1e-4, 1e-2]}`), checked before Ray sees them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nsrl_ray.config.loading import ConfigError, suggest

SpaceKind = Literal["grid", "choice", "uniform", "loguniform", "randint"]
SPACE_KINDS: tuple[str, ...] = ("grid", "choice", "uniform", "loguniform", "randint")


@dataclass(frozen=True)
class SearchDimension:
    """One searched setting: its dotted key path, the kind of space and its values or bounds."""

    path: str
    """Dotted key of the setting, e.g. `stages.teacher.lr`."""
    kind: SpaceKind
    """grid/choice take a list of values; uniform/loguniform/randint take [low, high] (randint's high is exclusive)."""
    values: tuple[Any, ...]
    """The values (grid, choice) or the bounds (the others)."""

    def __post_init__(self) -> None:
        if self.kind in ("grid", "choice"):
            if not self.values:
                raise ConfigError(f"{self.path}: {self.kind} needs at least one value.")
            return
        if len(self.values) != 2:
            raise ConfigError(f"{self.path}: {self.kind} takes [low, high], got {list(self.values)}.")
        low, high = self.values
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not low < high:
            raise ConfigError(f"{self.path}: {self.kind} takes [low, high] numbers with low < high, got {list(self.values)}.")
        if self.kind == "loguniform" and low <= 0:
            raise ConfigError(f"{self.path}: loguniform needs low > 0, got {low}.")
        if self.kind == "randint" and not all(isinstance(v, int) for v in (low, high)):
            raise ConfigError(f"{self.path}: randint takes integer bounds, got {list(self.values)}.")

    def examples(self) -> list[Any]:
        """Values the setting can take that are checked against the schema up front."""
        if self.kind in ("grid", "choice"):
            return list(self.values)
        low, high = self.values
        if self.kind == "randint":
            return [low, high - 1]
        if self.kind == "loguniform":
            return [low, high, math.sqrt(low * high)]
        return [low, high, (low + high) / 2]


def _space_marker(value: Any) -> tuple[str, Any] | None:
    """`{kind: values}` with exactly one key that names a space kind, else None."""
    if isinstance(value, Mapping) and len(value) == 1:
        (key, inner), = value.items()
        if key in SPACE_KINDS:
            return key, inner
    return None


def extract_search_space(data: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[SearchDimension, ...]]:
    """Split raw experiment data into plain data (each space replaced by its first example) and the spaces.

    Only stage settings may be searched; a space anywhere else is refused.
    """
    dimensions: list[SearchDimension] = []

    def walk(node: Any, path: str) -> Any:
        marker = _space_marker(node)
        if marker is not None:
            kind, inner = marker
            if not path.startswith("stages."):
                raise ConfigError(f"{path}: only stage settings can be searched, e.g. stages.teacher.lr: {{loguniform: [1e-4, 1e-2]}}.")
            if not isinstance(inner, list):
                raise ConfigError(f"{path}: {kind} takes a list, got {inner!r}.")
            dimension = SearchDimension(path=path, kind=kind, values=tuple(inner))
            dimensions.append(dimension)
            return dimension.examples()[0]
        if isinstance(node, Mapping):
            if len(node) == 1:
                (key,) = node
                hint = suggest(str(key), SPACE_KINDS)
                if hint and str(key) not in SPACE_KINDS and path.startswith("stages.") and path.count(".") >= 2:
                    raise ConfigError(f"{path}.{key}: unknown search space '{key}'.{hint} Spaces: {', '.join(SPACE_KINDS)}.")
            return {key: walk(value, f"{path}.{key}" if path else str(key)) for key, value in node.items()}
        return node

    plain = walk(dict(data), "")
    return plain, tuple(dimensions)
