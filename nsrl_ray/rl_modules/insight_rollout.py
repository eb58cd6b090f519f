"""Play an INSIGHT module's actors on their own, draw the objects it perceives, and read its EQL actor off as formulas."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nsrl_ray.symbolic.eql import EQL
from nsrl_ray.symbolic.expression import Expr

__all__ = [
    "Actor",
    "ActorRollout",
    "PerceivedFormulaPolicy",
    "draw_objects",
    "export_formulas",
    "play_actor",
    "prune_for_export",
    "save_object_video",
]

#: One colour per slot (RGB), cycled.
_COLOURS = ((255, 64, 64), (64, 255, 64), (64, 160, 255), (255, 220, 0), (255, 0, 255), (0, 255, 255), (255, 128, 0))


@dataclass
class ActorRollout:
    """Greedy episodes of one actor on the evaluation env (raw rewards, no episodic life)."""

    returns: list[float] = field(default_factory=list)
    steps: int = 0
    screens: list[np.ndarray] = field(default_factory=list)
    centres: list[np.ndarray] = field(default_factory=list)
    """Per kept screen: (S, 2) predicted (x, y) of the newest frame, NaN where judged absent."""
    features: list[np.ndarray] = field(default_factory=list)
    """With `record`: the perceived feature vector of every state the actor met."""
    neural: list[np.ndarray] = field(default_factory=list)
    """With `record`: the neural actor's outputs (logits or means) in those states, whichever actor acted."""


#: An actor: 'neural', 'eql', or a function from the module's `actor_outputs` of one state to the action.
Actor = str | Callable[[dict[str, torch.Tensor]], Any]


def _act(outputs: dict[str, torch.Tensor], actor: Actor, discrete: bool) -> Any:
    if callable(actor):
        return actor(outputs)
    out = outputs[actor][0]
    return int(out.argmax()) if discrete else out.numpy().astype(np.float32)


def play_actor(module: Any, game: str, actor: Actor, seeds: list[int], max_steps: int,
               keep_screens: int = 0, record: bool = False) -> ActorRollout:
    """Greedy episodes of `actor` on `seeds`; keep the first `keep_screens` screens; with `record`, keep every
    state's perceived features and the neural actor's outputs (the data the exported formulas are refitted on)."""
    from nsrl_ray.envs.atari.pixel import make_pixel_env

    if not callable(actor) and actor not in ("neural", "eql"):
        raise ValueError(f"actor must be 'neural', 'eql' or a function of the module's outputs, got {actor!r}.")
    rollout = ActorRollout()
    env = make_pixel_env(game, training=False)
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=int(seed))
            total = 0.0
            for _ in range(int(max_steps)):
                outputs = module.actor_outputs(torch.as_tensor(np.asarray(obs)[None]))
                if len(rollout.screens) < keep_screens:
                    rollout.screens.append(np.asarray(env.unwrapped.ale.getScreenRGB(), dtype=np.uint8))
                    present = torch.sigmoid(outputs["existence_logits"][0, 0]) > 0.5
                    centre = outputs["centre"][0, 0].clamp(0, 1).numpy().copy()
                    centre[~present.numpy()] = np.nan
                    rollout.centres.append(centre)
                if record:
                    rollout.features.append(outputs["features"][0].numpy().copy())
                    rollout.neural.append(outputs["neural"][0].numpy().copy())
                obs, reward, terminated, truncated, _ = env.step(_act(outputs, actor, module.discrete))
                total += float(reward)
                rollout.steps += 1
                if terminated or truncated:
                    break
            rollout.returns.append(total)
    finally:
        env.close()
    return rollout


def draw_objects(screen: np.ndarray, centres: np.ndarray, names: tuple[str, ...], scale: int = 2) -> np.ndarray:
    """The 210×160 RGB screen, scaled, with a ring and the slot name at each perceived object centre."""
    import cv2

    h, w = screen.shape[:2]
    image = cv2.resize(screen, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
    for i, (name, (x, y)) in enumerate(zip(names, centres)):
        if not np.isfinite(x):
            continue
        colour = _COLOURS[i % len(_COLOURS)]
        point = (int(round(x * w * scale)), int(round(y * h * scale)))
        cv2.circle(image, point, 6 * scale // 2, colour, 1, lineType=cv2.LINE_AA)
        cv2.putText(image, name, (point[0] + 6, point[1] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
    return image


def save_object_video(module: Any, game: str, path: str | Path, steps: int, seed: int, actor: str = "neural",
                      fps: int = 15, tensorboard_tag: str | None = None, tensorboard_step: int = 0) -> dict[str, Any]:
    """A greedy rollout with the perceived objects drawn: a gif at `path`, and in TensorBoard beside it."""
    from nsrl_ray.explain.attention_overlay import log_video_tensorboard, write_gif

    path = Path(path)
    rollout = play_actor(module, game, actor, [seed], steps, keep_screens=steps)
    names = module.perception.slot_names
    frames = [draw_objects(s, c, names) for s, c in zip(rollout.screens, rollout.centres)]
    write_gif(path, frames, fps=fps)
    if tensorboard_tag:
        log_video_tensorboard(path.parent / "tensorboard", tensorboard_tag, frames[:200], step=tensorboard_step, fps=fps)
    return {"video": str(path), "video_return": rollout.returns[0], "video_steps": rollout.steps}


def prune_for_export(eql: EQL, threshold: float, max_weights: int | None = None) -> EQL:
    """A copy of `eql` with weights below `threshold` zeroed; with `max_weights`, each layer also keeps only
    its `max_weights` largest weights (so a short run still reads as a formula, not thousands of terms)."""
    pruned = copy.deepcopy(eql)
    pruned.prune(threshold)
    if max_weights is not None:
        with torch.no_grad():
            for linear in pruned.linears():
                magnitude = (linear.weight * linear.weight_mask).abs().flatten()
                if int((magnitude > 0).sum()) > max_weights:
                    cut = torch.topk(magnitude, max_weights).values[-1]
                    keep = ((linear.weight.abs() >= cut) & (linear.weight_mask > 0)).to(linear.weight_mask.dtype)
                    linear.weight_mask.copy_(keep)
                    linear.weight.mul_(keep)
    return pruned


def export_formulas(eql: EQL, digits: int, scale: float = 1.0) -> tuple[Expr, ...]:
    """One IR formula per action from a (pruned) EQL; `scale` multiplies the logits (the inverse temperature)."""
    import sympy

    from nsrl_ray.symbolic.eql import _round_floats
    from nsrl_ray.symbolic.from_sympy import from_sympy
    from nsrl_ray.symbolic.simplify import simplify

    return tuple(
        simplify(from_sympy(_round_floats(sympy.expand(expression * scale), digits), eql.variable_names))
        for expression in eql.sympy_formulas(None)
    )


class PerceivedFormulaPolicy:
    """A formula policy on frames: the perception CNN names the objects, the formulas pick the action.

    Used where a pipeline plays a card of a pixel env (evaluate): `act` takes (B, 4, 84, 84) frames.
    """

    def __init__(self, formula_policy: Any, perception_path: str | Path) -> None:
        from nsrl_ray.rl_modules.insight_algo import load_perception

        torch.set_num_threads(1)
        self.formula = formula_policy
        self.model, _ = load_perception(perception_path)

    @torch.no_grad()
    def features(self, frames: np.ndarray) -> np.ndarray:
        batch = torch.as_tensor(np.asarray(frames, dtype=np.float32))
        return self.model.features(batch).numpy().astype(np.float64)

    def act(self, frames: np.ndarray) -> np.ndarray:
        return self.formula.act(self.features(frames))
