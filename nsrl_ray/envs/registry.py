"""Registry of RL environments with semantic names for their observations and actions."""

from __future__ import annotations

import difflib
import importlib
import keyword
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml

if TYPE_CHECKING:  # gymnasium is only needed to build envs; keep `import nsrl_ray.envs` light.
    import gymnasium

__all__ = [
    "ActionKind",
    "EnvSpec",
    "UnknownEnvironmentError",
    "get_env_spec",
    "list_envs",
    "load_env_specs",
    "make_env",
    "register_env_spec",
    "verify_env_spec",
]

ActionKind = Literal["discrete", "continuous"]
_ACTION_KINDS: tuple[str, ...] = get_args(ActionKind)

# Data files (inside the package's data/ folder) holding the built-in specs.
_BUILTIN_DATA_FILES: tuple[str, ...] = ("classic_control.yaml", "karel.yaml", "mujoco.yaml")
# "module:function" returning specs generated from code (the Atari slot tables); imported on first use.
_BUILTIN_SPEC_PROVIDERS: tuple[str, ...] = ("nsrl_ray.envs.atari.specs:builtin_specs",)
_SUPPORTED_SCHEMA_VERSIONS = frozenset({1})


def _check_identifiers(env_name: str, kind: str, names: tuple[str, ...]) -> None:
    """Reject names that cannot be used as formula variables."""
    if not names:
        raise ValueError(f"EnvSpec {env_name!r}: {kind} is empty; expected at least one name.")
    for n in names:
        if not isinstance(n, str) or not n.isidentifier() or keyword.iskeyword(n):
            raise ValueError(
                f"EnvSpec {env_name!r}: {kind} entry {n!r} is not usable as a formula variable; "
                "expected a snake_case Python identifier that is not a keyword (e.g. 'pole_angle')."
            )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"EnvSpec {env_name!r}: {kind} contains duplicates {duplicates}; every name must be unique."
        )


@dataclass(frozen=True)
class EnvSpec:
    """Semantic description of one environment: what each observation/action component means."""

    name: str
    gym_id: str
    feature_names: tuple[str, ...]
    feature_descriptions: tuple[str, ...]
    action_kind: ActionKind
    action_names: tuple[str, ...]
    description: str
    solved_return: float | None
    max_episode_steps: int
    feature_ranges: tuple[tuple[float, float] | None, ...] = ()
    """Per feature: the [low, high] an explanation may quote (observed or typical); () or None = unknown."""
    action_descriptions: tuple[str, ...] = ()
    """Per action: what it does, for explanations; () = the names speak for themselves."""
    coordinates: str = ""
    """The coordinate system and sign conventions of the features, for explanations."""
    observation_shape: tuple[int, ...] = ()
    """() = the observation is the flat vector of the named features; otherwise the shape of an image
    observation (e.g. (4, 84, 84) frames) whose named features are what a perception module predicts."""

    def __post_init__(self) -> None:
        # Accept lists from callers/YAML but store tuples so specs stay hashable and immutable.
        for attr in ("feature_names", "feature_descriptions", "action_names", "feature_ranges", "action_descriptions"):
            value = getattr(self, attr)
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise TypeError(
                    f"EnvSpec {self.name!r}: {attr} must be a sequence of strings, got {type(value).__name__}."
                )
            object.__setattr__(self, attr, tuple(value))
        shape = self.observation_shape
        if isinstance(shape, str) or not isinstance(shape, Sequence) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
        ):
            raise ValueError(
                f"EnvSpec {self.name!r}: observation_shape must be a tuple of positive ints (or () for a flat "
                f"feature vector), got {shape!r}."
            )
        object.__setattr__(self, "observation_shape", tuple(shape))

        for attr in ("name", "gym_id", "description"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"EnvSpec {self.name!r}: {attr} must be a non-empty string, got {value!r}.")

        _check_identifiers(self.name, "feature_names", self.feature_names)
        _check_identifiers(self.name, "action_names", self.action_names)
        # A shared name would make a formula ambiguous (input variable vs. action label).
        overlap = sorted(set(self.feature_names) & set(self.action_names))
        if overlap:
            raise ValueError(
                f"EnvSpec {self.name!r}: names {overlap} are used both as feature and action names; rename one side."
            )

        if len(self.feature_descriptions) != len(self.feature_names):
            raise ValueError(
                f"EnvSpec {self.name!r}: got {len(self.feature_descriptions)} feature_descriptions for "
                f"{len(self.feature_names)} feature_names; give exactly one description per feature."
            )
        for feature, text in zip(self.feature_names, self.feature_descriptions):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"EnvSpec {self.name!r}: description of feature {feature!r} is empty.")
        self._check_explain_fields()

        if self.action_kind not in _ACTION_KINDS:
            raise ValueError(
                f"EnvSpec {self.name!r}: action_kind {self.action_kind!r} is invalid; expected one of {_ACTION_KINDS}."
            )

        if self.solved_return is not None:
            if isinstance(self.solved_return, bool) or not isinstance(self.solved_return, (int, float)):
                raise TypeError(
                    f"EnvSpec {self.name!r}: solved_return must be a number or None, got {self.solved_return!r}."
                )
            object.__setattr__(self, "solved_return", float(self.solved_return))

        if isinstance(self.max_episode_steps, bool) or not isinstance(self.max_episode_steps, int):
            raise TypeError(
                f"EnvSpec {self.name!r}: max_episode_steps must be an int, got {self.max_episode_steps!r}."
            )
        if self.max_episode_steps <= 0:
            raise ValueError(
                f"EnvSpec {self.name!r}: max_episode_steps must be positive, got {self.max_episode_steps}."
            )

    def _check_explain_fields(self) -> None:
        """The optional fields that explanations use: one entry per feature / action when given."""
        if self.feature_ranges and len(self.feature_ranges) != len(self.feature_names):
            raise ValueError(
                f"EnvSpec {self.name!r}: got {len(self.feature_ranges)} feature_ranges for "
                f"{len(self.feature_names)} features; give one [low, high] (or none) per feature."
            )
        ranges = []
        for feature, bounds in zip(self.feature_names, self.feature_ranges):
            if bounds is not None:
                if not (isinstance(bounds, Sequence) and len(bounds) == 2 and all(
                    isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds
                ) and bounds[0] < bounds[1]):
                    raise ValueError(
                        f"EnvSpec {self.name!r}: range of feature {feature!r} is {bounds!r}; expected [low, high] with low < high."
                    )
                bounds = (float(bounds[0]), float(bounds[1]))
            ranges.append(bounds)
        object.__setattr__(self, "feature_ranges", tuple(ranges))
        if self.action_descriptions and len(self.action_descriptions) != len(self.action_names):
            raise ValueError(
                f"EnvSpec {self.name!r}: got {len(self.action_descriptions)} action_descriptions for "
                f"{len(self.action_names)} actions; give one description per action."
            )
        if not isinstance(self.coordinates, str):
            raise TypeError(f"EnvSpec {self.name!r}: coordinates must be a string, got {type(self.coordinates).__name__}.")

    @property
    def n_features(self) -> int:
        """Length of the observation vector."""
        return len(self.feature_names)

    @property
    def n_actions(self) -> int:
        """Number of discrete actions, or number of action dimensions for continuous control."""
        return len(self.action_names)


class UnknownEnvironmentError(ValueError):
    """Raised when an environment name is not registered."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known: tuple[str, ...] = tuple(known)
        self.suggestion: str | None = _closest_name(name, self.known)
        hint = f" Did you mean {self.suggestion!r}?" if self.suggestion else ""
        super().__init__(
            f"Unknown environment {name!r}.{hint} Known environments: {', '.join(self.known) or '(none)'}. "
            "Use one of these names, or add a spec with nsrl_ray.envs.register_env_spec()."
        )


def _closest_name(name: str, known: Sequence[str]) -> str | None:
    """Best 'did you mean' candidate; compares case-insensitively since case slips are the usual typo."""
    lowered = {k.lower(): k for k in known}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[matches[0]] if matches else None


# ---------------------------------------------------------------------------
# YAML loading
# ---------------------------------------------------------------------------

_REQUIRED_KEYS = frozenset(
    {"name", "gym_id", "action_kind", "solved_return", "max_episode_steps", "description", "features", "actions"}
)
#: Keys an entry may add for explanations (see EnvSpec.coordinates).
_OPTIONAL_KEYS = frozenset({"coordinates"})


def _spec_from_mapping(entry: Any, source: str) -> EnvSpec:
    """Build one EnvSpec from a YAML 'environments' entry, with errors that point at the file."""
    if not isinstance(entry, Mapping):
        raise ValueError(f"{source}: each environment entry must be a mapping, got {type(entry).__name__}.")
    label = entry.get("name", "<unnamed>")
    missing = sorted(_REQUIRED_KEYS - entry.keys())
    unknown = sorted(set(entry.keys()) - _REQUIRED_KEYS - _OPTIONAL_KEYS)
    if missing or unknown:
        raise ValueError(
            f"{source}: environment {label!r} has missing keys {missing} and unknown keys {unknown}; "
            f"expected {sorted(_REQUIRED_KEYS)}, optionally {sorted(_OPTIONAL_KEYS)}."
        )
    features = entry["features"]
    if not isinstance(features, list) or not all(
        isinstance(f, Mapping) and {"name", "description"} <= set(f.keys()) <= {"name", "description", "range"}
        for f in features
    ):
        raise ValueError(
            f"{source}: environment {label!r}: 'features' must be a list of {{name, description, range (optional)}} mappings."
        )
    actions = entry["actions"]
    if not isinstance(actions, list) or not all(
        isinstance(a, str) or (isinstance(a, Mapping) and set(a.keys()) == {"name", "description"}) for a in actions
    ):
        raise ValueError(
            f"{source}: environment {label!r}: 'actions' must be a list of names or {{name, description}} mappings, got {actions!r}."
        )
    described = [a for a in actions if isinstance(a, Mapping)]
    if described and len(described) != len(actions):
        raise ValueError(f"{source}: environment {label!r}: describe every action or none.")
    ranged = any("range" in f for f in features)
    try:
        return EnvSpec(
            name=entry["name"],
            gym_id=entry["gym_id"],
            feature_names=tuple(f["name"] for f in features),
            feature_descriptions=tuple(f["description"] for f in features),
            action_kind=entry["action_kind"],
            action_names=tuple(a["name"] if isinstance(a, Mapping) else a for a in actions),
            description=" ".join(str(entry["description"]).split()),
            solved_return=entry["solved_return"],
            max_episode_steps=entry["max_episode_steps"],
            feature_ranges=tuple(f.get("range") for f in features) if ranged else (),
            action_descriptions=tuple(" ".join(str(a["description"]).split()) for a in described),
            coordinates=" ".join(str(entry.get("coordinates", "")).split()),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from exc


def _specs_from_text(text: str, source: str) -> tuple[EnvSpec, ...]:
    data = yaml.safe_load(text)
    if not isinstance(data, Mapping) or "environments" not in data:
        raise ValueError(f"{source}: expected a mapping with an 'environments' list at the top level.")
    version = data.get("schema_version")
    if version not in _SUPPORTED_SCHEMA_VERSIONS:
        raise ValueError(
            f"{source}: schema_version {version!r} is not supported; expected one of "
            f"{sorted(_SUPPORTED_SCHEMA_VERSIONS)}."
        )
    entries = data["environments"]
    if not isinstance(entries, list):
        raise ValueError(f"{source}: 'environments' must be a list, got {type(entries).__name__}.")
    specs = tuple(_spec_from_mapping(e, source) for e in entries)
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{source}: environment names {duplicates} are defined more than once.")
    return specs


def load_env_specs(path: str | Path) -> tuple[EnvSpec, ...]:
    """Parse a spec YAML file (same schema as data/classic_control.yaml) without registering it.

    Lets other modules (Atari, Karel, ...) keep their specs as data and then call
    register_env_spec() on each result.
    """
    path = Path(path)
    return _specs_from_text(path.read_text(encoding="utf-8"), str(path))


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------

_REGISTRY: dict[str, EnvSpec] = {}
_builtins_loaded = False
# Re-entrant so registration paths can trigger the one-time built-in load safely.
_LOCK = threading.RLock()


def _ensure_loaded() -> dict[str, EnvSpec]:
    """Load the packaged YAML specs once per process (lazy, so importing the package costs nothing)."""
    global _builtins_loaded
    if _builtins_loaded:
        return _REGISTRY
    with _LOCK:
        if not _builtins_loaded:
            data_dir = resources.files(__package__).joinpath("data")
            specs: list[EnvSpec] = []
            for filename in _BUILTIN_DATA_FILES:
                text = data_dir.joinpath(filename).read_text(encoding="utf-8")
                specs.extend(_specs_from_text(text, f"{__package__}/data/{filename}"))
            for provider in _BUILTIN_SPEC_PROVIDERS:
                module_name, _, function = provider.partition(":")
                specs.extend(getattr(importlib.import_module(module_name), function)())
            # Parse everything before touching the registry so a bad file leaves no half-loaded state.
            for spec in specs:
                _add(spec)
            _builtins_loaded = True
    return _REGISTRY


def _add(spec: EnvSpec) -> None:
    if spec.name in _REGISTRY:
        raise ValueError(
            f"Environment {spec.name!r} is already registered (gym_id {_REGISTRY[spec.name].gym_id!r}); "
            "choose a different name, e.g. with a version suffix."
        )
    _REGISTRY[spec.name] = spec


def register_env_spec(spec: EnvSpec) -> None:
    """Add a spec to the registry; refuses a name that is already registered."""
    if not isinstance(spec, EnvSpec):
        raise TypeError(f"register_env_spec expects an EnvSpec, got {type(spec).__name__}.")
    with _LOCK:
        _ensure_loaded()
        _add(spec)


def list_envs() -> tuple[str, ...]:
    """Names of all registered environments, in registration order."""
    return tuple(_ensure_loaded())


def get_env_spec(name: str) -> EnvSpec:
    """Spec for `name`; raises UnknownEnvironmentError listing the known names otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"Environment name must be a str such as 'CartPole-v1', got {type(name).__name__}.")
    registry = _ensure_loaded()
    try:
        return registry[name]
    except KeyError:
        raise UnknownEnvironmentError(name, tuple(registry)) from None


def make_env(name: str, **kwargs: Any) -> gymnasium.Env:
    """Create the Gymnasium environment for a registered name; kwargs go to gymnasium.make."""
    import gymnasium

    spec = get_env_spec(name)
    return gymnasium.make(spec.gym_id, **kwargs)


def verify_env_spec(name: str, env: gymnasium.Env | None = None) -> None:
    """Check that a spec's feature/action counts match the real environment's spaces.

    Not run at import/registration time because building an env can be slow or need
    optional dependencies; tests (and callers registering new specs) invoke it explicitly.
    """
    from gymnasium import spaces

    spec = get_env_spec(name)
    own_env = env is None
    env = make_env(name) if own_env else env
    try:
        obs_space, act_space = env.observation_space, env.action_space
        if spec.observation_shape:
            if not isinstance(obs_space, spaces.Box) or tuple(obs_space.shape) != spec.observation_shape:
                raise ValueError(
                    f"EnvSpec {name!r}: observation_shape {spec.observation_shape} but the environment's "
                    f"observation space is {obs_space}; fix observation_shape in the spec."
                )
        elif not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
            raise ValueError(
                f"EnvSpec {name!r}: expected a flat Box observation space, got {obs_space}; "
                "feature names can only describe a 1-D observation vector."
            )
        elif obs_space.shape[0] != spec.n_features:
            raise ValueError(
                f"EnvSpec {name!r}: {spec.n_features} feature_names but the environment's observation has "
                f"{obs_space.shape[0]} components; fix the feature list in the spec."
            )
        if spec.action_kind == "discrete":
            if not isinstance(act_space, spaces.Discrete):
                raise ValueError(f"EnvSpec {name!r}: action_kind 'discrete' but action space is {act_space}.")
            n_env_actions = int(act_space.n)
        else:
            if not isinstance(act_space, spaces.Box) or len(act_space.shape) != 1:
                raise ValueError(
                    f"EnvSpec {name!r}: action_kind 'continuous' but action space is {act_space}; "
                    "expected a 1-D Box."
                )
            n_env_actions = int(act_space.shape[0])
        if n_env_actions != spec.n_actions:
            raise ValueError(
                f"EnvSpec {name!r}: {spec.n_actions} action_names but the environment has {n_env_actions} "
                f"{'actions' if spec.action_kind == 'discrete' else 'action dimensions'}; fix the action list."
            )
    finally:
        if own_env:
            env.close()
