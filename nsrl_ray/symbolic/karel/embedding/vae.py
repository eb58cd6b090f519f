"""LEAPS's program embedding: a GRU VAE over Karel program tokens with syntax-masked decoding.

The encoder reads a program's tokens into a Gaussian posterior over a latent vector z
(reparameterised). The decoder writes tokens from z, and at every step the syntax automaton of
`nsrl_ray.symbolic.karel.syntax` masks the tokens that may not come next (or after which the program
could not be finished within `max_tokens`): their logits are set to a large negative number, so
every decoded sequence, greedy or sampled, trained or not, is a program that parses.

LEAPS's four losses (weights in `LossWeights`):
* program reconstruction: cross-entropy of the teacher-forced, masked decoder;
* KL of the posterior from N(0, I), weighted by beta;
* latent behaviour: a condition policy, a GRU conditioned on z, predicts the demonstrations' actions
  (and the end of each demonstration) from the perceptions the program saw;
* program behaviour: REINFORCE on programs sampled from the decoder, rewarded by how far their
  action traces agree with the demonstrations on the same initial worlds.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nsrl_ray.envs.karel.world import ACTIONS
from nsrl_ray.symbolic.karel.embedding.dataset import (
    END_ACTION,
    PAD_ACTION,
    demonstrate,
    initial_world,
    trace_agreement,
)
from nsrl_ray.symbolic.karel.interpreter import LEAPS_MAX_CALLS
from nsrl_ray.symbolic.karel.program import END_ID, END_TOKEN, TOKEN_IDS, Program
from nsrl_ray.symbolic.karel.program import TOKENS as _TOKENS
from nsrl_ray.symbolic.karel.syntax import SyntaxState, parse_ids

#: Token ids the decoder chooses from: LEAPS's 50 tokens and the end id.
N_TOKENS = END_ID + 1
#: Decoder input at the first step (an extra embedding row).
START_ID = N_TOKENS
#: Previous-action input of the condition policy at the first step.
START_ACTION = len(ACTIONS) + 1
MODEL_FORMAT = "nsrl_ray.karel_vae"
_MASKED = -1e9


# ------------------------------------------------------------------------------------------ syntax masks
class SyntaxMasks:
    """Masks over the 51 ids from the syntax automaton, cached by automaton state."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self._cache: dict[tuple, np.ndarray] = {}
        self.finished = np.zeros(N_TOKENS, dtype=bool)
        self.finished[END_ID] = True

    def __call__(self, state: SyntaxState | None) -> np.ndarray:
        """Allowed ids after ``state``; None is a finished sequence (only the end id)."""
        if state is None:
            return self.finished
        key = (tuple(state.stack), state.length)
        mask = self._cache.get(key)
        if mask is None:
            mask = np.zeros(N_TOKENS, dtype=bool)
            for token in state.allowed():
                if token == END_TOKEN:
                    mask[END_ID] = True
                    continue
                after = state.copy()
                after.feed(token)
                if after.length + after.min_remaining() <= self.max_tokens:
                    mask[TOKEN_IDS[token]] = True
            self._cache[key] = mask
        return mask

    def sequence(self, ids: Sequence[int], length: int) -> np.ndarray:
        """Masks before each of ``length`` positions of a valid id sequence (END-padded after its end)."""
        out = np.zeros((length, N_TOKENS), dtype=bool)
        state: SyntaxState | None = SyntaxState()
        for position in range(length):
            out[position] = self(state)
            token = int(ids[position]) if position < len(ids) else END_ID
            if state is None or token == END_ID:
                state = None
            else:
                state.feed(_TOKENS[token])
        return out


# ------------------------------------------------------------------------------------------ model
@dataclass(frozen=True)
class VAEArchitecture:
    """The shape of a program VAE; saved with its weights, so a checkpoint rebuilds itself."""

    latent_dim: int
    """Size of z (LEAPS: 256)."""
    hidden_size: int
    """GRU width of the encoder and decoder (LEAPS: 256)."""
    embedding_size: int
    """Token embedding width."""
    policy_hidden_size: int
    """GRU width of the condition policy."""
    max_tokens: int
    """Longest decoded program in tokens, DEF run m( ... m) included (LEAPS: 45)."""

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: got {value!r}, expected a positive integer.")
        if self.max_tokens < 5:
            raise ValueError(f"max_tokens: got {self.max_tokens}, expected >= 5 (DEF run m( action m)).")

    @property
    def sequence_length(self) -> int:
        """Decoder steps: every token plus the end id."""
        return self.max_tokens + 1


@dataclass(frozen=True)
class LossWeights:
    """Weights of LEAPS's four losses; 0 switches a term off (and skips its compute)."""

    reconstruction: float
    kl: float
    latent_behaviour: float
    program_behaviour: float

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or not math.isfinite(value):
                raise ValueError(f"loss weight {name}: got {value!r}, expected a finite number >= 0.")


class ProgramVAE(nn.Module):
    """Encoder, masked decoder and condition policy of LEAPS's program embedding."""

    def __init__(self, architecture: VAEArchitecture) -> None:
        super().__init__()
        a = self.architecture = architecture
        self.masks = SyntaxMasks(a.max_tokens)
        self.embedding = nn.Embedding(N_TOKENS + 1, a.embedding_size)
        self.encoder = nn.GRU(a.embedding_size, a.hidden_size, batch_first=True)
        self.to_mean = nn.Linear(a.hidden_size, a.latent_dim)
        self.to_logvar = nn.Linear(a.hidden_size, a.latent_dim)
        self.latent_to_hidden = nn.Linear(a.latent_dim, a.hidden_size)
        self.decoder = nn.GRU(a.embedding_size + a.latent_dim, a.hidden_size, batch_first=True)
        self.token_head = nn.Linear(a.hidden_size, N_TOKENS)
        # Condition policy: (perceptions, previous action one-hot, z) -> action or end.
        self.policy_in = 5 + START_ACTION + 1
        self.policy = nn.GRU(self.policy_in + a.latent_dim, a.policy_hidden_size, batch_first=True)
        self.action_head = nn.Linear(a.policy_hidden_size, END_ACTION + 1)

    # -------------------------------------------------------------- encoder
    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of a batch of END-padded id sequences."""
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, hidden = self.encoder(packed)
        hidden = hidden[-1]
        return self.to_mean(hidden), self.to_logvar(hidden).clamp(-10.0, 10.0)

    @staticmethod
    def sample_latent(mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        return mean + noise * torch.exp(0.5 * logvar)

    # -------------------------------------------------------------- decoder
    def decoder_logits(self, z: torch.Tensor, ids: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Teacher-forced masked logits (B, L, 51) for target ids (B, L)."""
        batch, length = ids.shape
        inputs = torch.cat([torch.full((batch, 1), START_ID, dtype=ids.dtype), ids[:, :-1]], dim=1)
        steps = torch.cat([self.embedding(inputs), z.unsqueeze(1).expand(-1, length, -1)], dim=2)
        out, _ = self.decoder(steps, torch.tanh(self.latent_to_hidden(z)).unsqueeze(0))
        return self.token_head(out).masked_fill(~masks, _MASKED)

    def decode(
        self, z: torch.Tensor, greedy: bool = True, generator: torch.Generator | None = None, with_log_prob: bool = False,
    ) -> tuple[list[list[int]], torch.Tensor | None]:
        """Token ids (without the end id) for every row of z; every sequence is a program that parses.

        With ``with_log_prob``, also the summed log-probability of each sequence (with its graph).
        """
        batch = z.shape[0]
        states: list[SyntaxState | None] = [SyntaxState() for _ in range(batch)]
        hidden = torch.tanh(self.latent_to_hidden(z)).unsqueeze(0)
        previous = torch.full((batch,), START_ID, dtype=torch.long)
        out: list[list[int]] = [[] for _ in range(batch)]
        log_prob = torch.zeros(batch) if with_log_prob else None
        for _ in range(self.architecture.sequence_length):
            if all(s is None for s in states):
                break
            step = torch.cat([self.embedding(previous), z], dim=1).unsqueeze(1)
            output, hidden = self.decoder(step, hidden)
            mask = torch.from_numpy(np.stack([self.masks(s) for s in states]))
            logits = self.token_head(output[:, 0]).masked_fill(~mask, _MASKED)
            if greedy:
                chosen = logits.argmax(dim=1)
            else:
                chosen = torch.multinomial(F.softmax(logits, dim=1), 1, generator=generator)[:, 0]
            if log_prob is not None:
                picked = F.log_softmax(logits, dim=1).gather(1, chosen[:, None])[:, 0]
                alive = torch.tensor([s is not None for s in states])
                log_prob = log_prob + torch.where(alive, picked, torch.zeros_like(picked))
            for row, token in enumerate(chosen.tolist()):
                state = states[row]
                if state is None:
                    continue
                if token == END_ID:
                    states[row] = None
                else:
                    state.feed(_TOKENS[token])
                    out[row].append(token)
            previous = chosen
        return out, log_prob

    def decode_programs(self, z: torch.Tensor, greedy: bool = True, generator: torch.Generator | None = None) -> list[Program]:
        with torch.no_grad():
            ids, _ = self.decode(z, greedy=greedy, generator=generator)
        return [parse_ids(row) for row in ids]

    # -------------------------------------------------------------- condition policy
    def policy_logits(self, z: torch.Tensor, perceptions: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """Action logits (N, T, 6) from perceptions (N, T, 5), previous-action codes (N, T) and z (N, Z)."""
        one_hot = F.one_hot(previous, START_ACTION + 1).float()
        steps = torch.cat([perceptions.float(), one_hot, z.unsqueeze(1).expand(-1, perceptions.shape[1], -1)], dim=2)
        out, _ = self.policy(steps)
        return self.action_head(out)


# ------------------------------------------------------------------------------------------ training data
class TrainingData:
    """A program dataset as tensors: END-padded ids, syntax masks, demonstrations with targets."""

    def __init__(self, data: dict[str, np.ndarray], max_tokens: int, masks: SyntaxMasks | None = None) -> None:
        self.raw = data
        length = max_tokens + 1
        ids = data["program_ids"]
        if ids.shape[1] > length:
            raise ValueError(f"programs of up to {ids.shape[1] - 1} tokens do not fit a model of max_tokens={max_tokens}.")
        padded = np.full((len(ids), length), END_ID, dtype=np.int64)
        padded[:, : ids.shape[1]] = ids
        self.ids = torch.from_numpy(padded)
        self.lengths = torch.from_numpy(data["program_len"].astype(np.int64))
        masks = masks or SyntaxMasks(max_tokens)
        self.masks = torch.from_numpy(np.stack([masks.sequence(row[:n], length) for row, n in zip(padded, data["program_len"])]))
        # Loss positions: every token and the end id right after it.
        self.token_weight = (torch.arange(length)[None, :] <= self.lengths[:, None]).float()
        # Positions where the grammar left a choice (the forced ones say nothing about the model).
        self.choice = (self.masks.sum(dim=2) > 1) & (self.token_weight > 0)
        actions = data["demo_actions"].astype(np.int64)  # (N, D, T), PAD_ACTION-padded
        n, d, t_max = actions.shape
        demo_len = data["demo_len"].astype(np.int64)
        targets = np.full((n, d, t_max + 1), -100, dtype=np.int64)  # -100: ignored by cross_entropy
        targets[:, :, :t_max] = np.where(actions == PAD_ACTION, -100, actions)
        rows, demos = np.nonzero(~data["demo_cut"])
        targets[rows, demos, demo_len[rows, demos]] = END_ACTION  # the policy also learns when the program stops
        previous = np.full((n, d, t_max + 1), START_ACTION, dtype=np.int64)
        previous[:, :, 1:] = np.where(actions == PAD_ACTION, START_ACTION, actions)
        self.demo_targets = torch.from_numpy(targets)
        self.demo_previous = torch.from_numpy(previous)
        self.demo_perceptions = torch.from_numpy(data["demo_perceptions"])
        self.max_demo_length = t_max

    def __len__(self) -> int:
        return len(self.ids)


# ------------------------------------------------------------------------------------------ losses
def _kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return (-0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(dim=1)).mean()


def program_behaviour_rewards(
    programs_ids: list[list[int]], data: TrainingData, rows: Sequence[int], max_calls: int = LEAPS_MAX_CALLS,
) -> torch.Tensor:
    """Per decoded program: mean agreement of its action traces with the demonstrations of its row."""
    demos = data.raw["demo_actions"]
    rewards = []
    for ids, row in zip(programs_ids, rows):
        program = parse_ids(ids)
        scores = []
        for demo in range(demos.shape[1]):
            actions, _, _ = demonstrate(program, initial_world(data.raw, row, demo), max_calls, data.max_demo_length)
            length = int(data.raw["demo_len"][row, demo])
            scores.append(trace_agreement(actions, demos[row, demo, :length].tolist()))
        rewards.append(float(np.mean(scores)))
    return torch.tensor(rewards)


def vae_losses(
    model: ProgramVAE, data: TrainingData, rows: np.ndarray, weights: LossWeights,
    generator: torch.Generator | None = None, reinforce_programs: int = 8,
) -> dict[str, torch.Tensor]:
    """LEAPS's losses on a batch of dataset rows; 'loss' is their weighted sum."""
    index = torch.from_numpy(rows)
    ids, lengths, masks = data.ids[index], data.lengths[index], data.masks[index]
    mean, logvar = model.encode(ids, lengths)
    z = model.sample_latent(mean, logvar, generator)
    logits = model.decoder_logits(z, ids, masks)
    per_token = F.cross_entropy(logits.transpose(1, 2), ids, reduction="none")
    weight = data.token_weight[index]
    reconstruction = (per_token * weight).sum() / weight.sum()
    choice = data.choice[index]
    correct = (logits.argmax(dim=2) == ids) & choice
    out: dict[str, torch.Tensor] = {
        "reconstruction": reconstruction,
        "kl": _kl(mean, logvar),
        "token_accuracy": correct.sum() / choice.sum().clamp(min=1),
    }
    total = weights.reconstruction * reconstruction + weights.kl * out["kl"]
    if weights.latent_behaviour > 0:
        demos = data.demo_targets.shape[1]
        targets = data.demo_targets[index].flatten(0, 1)
        policy_z = z.repeat_interleave(demos, dim=0)
        action_logits = model.policy_logits(
            policy_z, data.demo_perceptions[index].flatten(0, 1), data.demo_previous[index].flatten(0, 1)
        )
        out["latent_behaviour"] = F.cross_entropy(action_logits.transpose(1, 2), targets, ignore_index=-100)
        seen = targets != -100
        out["action_accuracy"] = ((action_logits.argmax(dim=2) == targets) & seen).sum() / seen.sum().clamp(min=1)
        total = total + weights.latent_behaviour * out["latent_behaviour"]
    if weights.program_behaviour > 0:
        chosen = rows[:reinforce_programs]
        sampled, log_prob = model.decode(z[: len(chosen)], greedy=False, generator=generator, with_log_prob=True)
        rewards = program_behaviour_rewards(sampled, data, chosen)
        advantage = rewards - rewards.mean()
        out["program_behaviour"] = -(advantage * log_prob).mean()
        out["program_reward"] = rewards.mean()
        total = total + weights.program_behaviour * out["program_behaviour"]
    out["loss"] = total
    return out


@torch.no_grad()
def evaluate_vae(model: ProgramVAE, data: TrainingData, rows: np.ndarray, decode_rows: int = 64) -> dict[str, float]:
    """Teacher-forced token and action accuracy from the posterior mean, and the share of programs that
    greedy decoding of the mean gives back exactly."""
    model.eval()
    index = torch.from_numpy(rows)
    mean, _ = model.encode(data.ids[index], data.lengths[index])
    logits = model.decoder_logits(mean, data.ids[index], data.masks[index])
    choice = data.choice[index]
    correct = (logits.argmax(dim=2) == data.ids[index]) & choice
    metrics = {"token_accuracy": float(correct.sum() / choice.sum().clamp(min=1))}
    per_token = F.cross_entropy(logits.transpose(1, 2), data.ids[index], reduction="none")
    weight = data.token_weight[index]
    metrics["reconstruction"] = float((per_token * weight).sum() / weight.sum())
    demos = data.demo_targets.shape[1]
    targets = data.demo_targets[index].flatten(0, 1)
    action_logits = model.policy_logits(
        mean.repeat_interleave(demos, dim=0), data.demo_perceptions[index].flatten(0, 1), data.demo_previous[index].flatten(0, 1)
    )
    seen = targets != -100
    metrics["action_accuracy"] = float(((action_logits.argmax(dim=2) == targets) & seen).sum() / seen.sum().clamp(min=1))
    few = index[:decode_rows]
    decoded, _ = model.decode(mean[: len(few)], greedy=True)
    exact = [ids == data.ids[i, : int(data.lengths[i])].tolist() for ids, i in zip(decoded, few.tolist())]
    metrics["program_accuracy"] = float(np.mean(exact)) if exact else 0.0
    model.train()
    return metrics


class VAETrainer:
    """Adam on LEAPS's losses over random minibatches; its whole state (RNGs included) can be saved and restored."""

    def __init__(self, model: ProgramVAE, data: TrainingData, train_rows: np.ndarray, weights: LossWeights,
                 learning_rate: float, batch_size: int, seed: int, reinforce_programs: int = 8,
                 grad_clip: float = 1.0) -> None:
        self.model, self.data, self.train_rows, self.weights = model, data, np.asarray(train_rows), weights
        self.batch_size, self.reinforce_programs, self.grad_clip = batch_size, reinforce_programs, grad_clip
        self.optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.step_count = 0

    def step(self) -> dict[str, float]:
        rows = self.rng.choice(self.train_rows, size=min(self.batch_size, len(self.train_rows)), replace=False)
        losses = vae_losses(self.model, self.data, rows, self.weights, self.generator, self.reinforce_programs)
        self.optimizer.zero_grad()
        losses["loss"].backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.step_count += 1
        return {key: float(value.detach()) for key, value in losses.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step_count,
                "rng": self.rng.bit_generator.state, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step_count = int(state["step"])
        self.rng.bit_generator.state = state["rng"]
        self.generator.set_state(state["generator"])


# ------------------------------------------------------------------------------------------ saving
def save_vae(path: Path, model: ProgramVAE, metrics: dict[str, float] | None = None, provenance: dict[str, Any] | None = None) -> Path:
    """Write the model (architecture + weights + metrics) through a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"format": MODEL_FORMAT, "version": 1, "architecture": asdict(model.architecture),
                "state_dict": model.state_dict(), "metrics": dict(metrics or {}), "provenance": dict(provenance or {})}, tmp)
    tmp.replace(path)
    return path


def load_vae(path: str | Path) -> tuple[ProgramVAE, dict[str, Any]]:
    """A saved program VAE in eval mode, and its metrics and provenance; refuses anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"program VAE {str(path)!r} does not exist; train one with the karel_vae learner "
            "(e.g. nsrl run tune_configs/karel_vae_small.yaml) and point `model` at its karel_vae.pt."
        )
    try:  # weights_only: a model file named in an experiment file is never unpickled as code
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise ValueError(f"{path}: not a readable program VAE (corrupt or not saved by nsrl_ray): {error}") from None
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path}: not a program VAE saved by nsrl_ray (expected format {MODEL_FORMAT!r}).")
    model = ProgramVAE(VAEArchitecture(**saved["architecture"]))
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return model, {"metrics": saved.get("metrics", {}), "provenance": saved.get("provenance", {})}
