"""Environment registry: semantic observation/action names for the supported RL environments."""

from nsrl_ray.envs.registry import (
    ActionKind,
    EnvSpec,
    UnknownEnvironmentError,
    get_env_spec,
    list_envs,
    load_env_specs,
    make_env,
    register_env_spec,
    verify_env_spec,
)

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
