"""Rollout videos: one episode of a policy rendered to a gif or mp4 (imageio)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nsrl_ray.envs import get_env_spec, make_env

if TYPE_CHECKING:
    from nsrl_ray.pipeline.context import StageContext

BatchPolicy = Callable[[np.ndarray], np.ndarray]


class VideoError(RuntimeError):
    """The environment cannot render frames here (e.g. MuJoCo without an OpenGL backend)."""


def gymnasium_spec(env_name: str) -> object:
    """Gymnasium's registration of a registry environment (its entry point tells the simulator)."""
    import gymnasium

    return gymnasium.spec(get_env_spec(env_name).gym_id)


def record_frames(env_name: str, policy: BatchPolicy, seed: int, max_steps: int) -> tuple[list[np.ndarray], float]:
    """Play one episode (seeded reset) and return its rendered RGB frames and the return up to the cut."""
    if "mujoco" in str(getattr(gymnasium_spec(env_name), "entry_point", "")):
        # Without a display MuJoCo's default GLFW renderer aborts the whole process (a C++ abort,
        # not an exception); EGL renders headless. An explicit MUJOCO_GL still wins.
        os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        env = make_env(env_name, render_mode="rgb_array")
    except Exception as error:  # an env without rgb_array rendering, or a missing renderer package
        raise VideoError(f"{env_name} cannot render frames: {error}") from error
    discrete = hasattr(env.action_space, "n")
    frames: list[np.ndarray] = []
    total = 0.0
    try:
        obs, _ = env.reset(seed=int(seed))
        for _ in range(max_steps):
            frame = env.render()
            if frame is None:
                raise VideoError(f"{env_name} rendered no frame (render_mode rgb_array unsupported?)")
            frames.append(np.asarray(frame, dtype=np.uint8))
            action = policy(np.asarray(obs, dtype=np.float64)[None, :])[0]
            env_action = int(action) if discrete else np.asarray(action, dtype=np.float32)
            obs, reward, terminated, truncated, _ = env.step(env_action)
            total += float(reward)
            if terminated or truncated:
                frames.append(np.asarray(env.render(), dtype=np.uint8))
                break
    except VideoError:
        raise
    except Exception as error:  # OpenGL context failures surface from render()
        raise VideoError(f"{env_name} failed to render: {type(error).__name__}: {error}") from error
    finally:
        env.close()
    return frames, total


def write_video(path: Path, frames: list[np.ndarray], fps: int) -> Path:
    """Write frames as a gif (Pillow) or an mp4 (imageio-ffmpeg), chosen by the suffix."""
    import imageio.v3 as iio

    if not frames:
        raise VideoError(f"no frames to write to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        iio.imwrite(path, np.stack(frames), duration=1000 / fps, loop=0)
    elif path.suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401 - imageio's mp4 writer
        except ImportError:
            raise VideoError("mp4 videos need the imageio-ffmpeg package: pip install imageio-ffmpeg, or use video_format: gif") from None
        import imageio.v2

        imageio.v2.mimwrite(path, frames, fps=fps, macro_block_size=1)
    else:
        raise ValueError(f"video path {path}: expected a .gif or .mp4 suffix")
    return path


def record_video(env_name: str, policy: BatchPolicy, seed: int, path: Path, max_steps: int, fps: int) -> float:
    """Render one episode of `policy` into `path`; returns the episode's return (up to the cut)."""
    frames, total = record_frames(env_name, policy, seed, max_steps)
    write_video(path, frames, fps)
    return total


def record_policy_videos(ctx: StageContext, policy: BatchPolicy) -> dict[str, float | str]:
    """Videos of the teacher and of `policy` on the first evaluation seed, beside the card.

    Returns metrics (`video_*_return`) and, where the environment cannot render here, a
    `video_skipped` reason instead of failing the trial.
    """
    from nsrl_ray.pipeline.context import TEACHER_MODULE
    from nsrl_ray.pipeline.seeding import episode_seeds

    settings = ctx.config.stages.report
    assert settings is not None
    seed = episode_seeds(ctx.seed, "evaluate", 1)[0]
    players: dict[str, BatchPolicy] = {"symbolic": policy}
    if ctx.path(TEACHER_MODULE).exists():
        from nsrl_ray.envs import get_env_spec
        from nsrl_ray.pipeline.teacher_policy import TeacherPolicy
        from nsrl_ray.pipeline.teacher_units import teacher_action_bounds

        teacher = TeacherPolicy(ctx.path(TEACHER_MODULE), get_env_spec(ctx.config.env).action_kind, teacher_action_bounds(ctx))
        players = {"teacher": teacher.act, **players}
    results: dict[str, float | str] = {}
    for who, play in players.items():
        path = ctx.path(f"video_{who}.{settings.video_format}")
        try:
            results[f"video_{who}_return"] = record_video(
                ctx.config.env, play, seed, path, settings.video_max_steps, settings.video_fps
            )
        except VideoError as error:
            results["video_skipped"] = str(error)
            break
    return results
