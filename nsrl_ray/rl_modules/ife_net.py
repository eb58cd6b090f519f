"""IFE's networks in plain torch (no Ray): the spatially aligned attention encoder and a Nature CNN to compare with.

The "human-understandable" part keeps the screen's layout down to a 14×14×C map and puts a soft
attention over its cells; its weights are the mask that explains the agent. The "agent-friendly"
part (max-pool, IMPALA residual blocks, adaptive max-pool) turns the attended map into features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["IFEConfig", "IFEEncoder", "NatureCNNEncoder", "ResidualBlock", "SpatialAttention", "mlp_head", "orthogonal_init_"]

#: Gain of orthogonal initialisation for layers followed by a ReLU.
RELU_GAIN = 2.0 ** 0.5


def orthogonal_init_(module: nn.Module, gain: float = RELU_GAIN) -> nn.Module:
    """Orthogonal weights (scaled by `gain`) and zero biases on every conv and linear layer in `module`.

    Why: PyTorch's default (Kaiming-uniform with a = √5) shrinks activations by about √3 per layer.
    On Boxing frames a fresh Nature CNN's features were 0.008 in size and varied between frames by
    0.001 (orthogonal: 0.23 and 0.047), so the heads' outputs hardly depended on the screen: PPO's
    value function explained 0.000 of the return for 22k steps and the entropy stayed flat.
    Orthogonal init with gain √2 keeps the scale through ReLU layers (the CleanRL / Stable-Baselines
    Atari recipe).

    Layers with a parametrized weight (spectral norm) are skipped: re-initialising one leaves its power
    iteration's vectors stale, so train- and eval-mode forwards disagree (PPO's first update then saw
    a KL of ~0.8). Initialise those before wrapping them, as `ResidualBlock` does.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)) and not hasattr(layer, "parametrizations"):
            nn.init.orthogonal_(layer.weight, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def mlp_head(in_features: int, hidden: int, out: int, output_gain: float = 1.0) -> nn.Sequential:
    """Linear-ReLU-linear, orthogonally initialised; a small `output_gain` starts a policy near uniform."""
    head = orthogonal_init_(nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out)))
    nn.init.orthogonal_(head[-1].weight, output_gain)
    return head


@dataclass(frozen=True)
class IFEConfig:
    """Sizes of the IFE encoder (defaults: the paper's m = 2 on 4 stacked 84×84 frames)."""

    in_channels: int = 4
    """Stacked frames (channels of the observation)."""
    width: int = 2
    """The multiplier m: the convolutions have 16m, 32m, 32m channels."""
    attention_hidden: int = 512
    """Hidden width of the per-cell scoring MLP."""
    spectral_norm: bool = True
    """Spectral normalisation on the residual blocks' convolutions (IFE uses it for stability)."""
    pool_size: int = 8
    """Side of the adaptive max-pool at the end (features = 32m · pool_size²)."""
    rescale_attention: bool = True
    """Multiply the attended map by the number of cells, so a uniform mask leaves features unchanged
    (keeps activations at the scale default initialisation expects; the mask itself is not affected)."""

    def __post_init__(self) -> None:
        for name in ("in_channels", "width", "attention_hidden", "pool_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"IFEConfig.{name}: got {value!r}, expected a positive integer.")

    @property
    def channels(self) -> int:
        return 32 * self.width

    @property
    def out_features(self) -> int:
        return self.channels * self.pool_size * self.pool_size


class SpatialAttention(nn.Module):
    """Score each cell of a (B, C, H, W) map with a small MLP, softmax over the H·W cells, weight the features."""

    def __init__(self, channels: int, hidden: int, rescale: bool) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.rescale = rescale

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (attended map with the layout kept, mask (B, H, W) summing to 1 per sample)."""
        b, c, h, w = features.shape
        cells = features.flatten(2).transpose(1, 2)  # (B, H·W, C)
        weights = torch.softmax(self.score(cells).squeeze(-1), dim=-1)  # (B, H·W)
        scale = float(h * w) if self.rescale else 1.0
        attended = features * (weights * scale).view(b, 1, h, w)
        return attended, weights.view(b, h, w)


class ResidualBlock(nn.Module):
    """IMPALA's residual block: x + conv(relu(conv(relu(x)))), optionally spectrally normalised."""

    def __init__(self, channels: int, use_spectral_norm: bool) -> None:
        super().__init__()
        wrap = spectral_norm if use_spectral_norm else (lambda layer: layer)
        # Initialised before wrapping, so spectral norm's power iteration starts from the final weights.
        self.conv0 = wrap(orthogonal_init_(nn.Conv2d(channels, channels, 3, padding=1)))
        self.conv1 = wrap(orthogonal_init_(nn.Conv2d(channels, channels, 3, padding=1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


def _as_float_frames(obs: torch.Tensor, in_channels: int) -> torch.Tensor:
    """uint8 (or float 0..255) frames, channel-first (B, C, 84, 84) or channel-last (B, 84, 84, C), to float in [0, 1]."""
    if obs.dim() != 4:
        raise ValueError(f"expected a batch of stacked frames (B, {in_channels}, 84, 84); got shape {tuple(obs.shape)}.")
    if obs.shape[1] != in_channels and obs.shape[-1] == in_channels:
        obs = obs.permute(0, 3, 1, 2)
    if obs.shape[1] != in_channels:
        raise ValueError(f"expected {in_channels} stacked frames (B, {in_channels}, H, W); got shape {tuple(obs.shape)}.")
    return obs.float() / 255.0


class IFEEncoder(nn.Module):
    """Frames -> (features (B, 32m·pool²), attention mask (B, 14, 14))."""

    def __init__(self, config: IFEConfig = IFEConfig()) -> None:
        super().__init__()
        self.config = config
        m = config.width
        # Kernel = stride keeps every 14×14 cell tied to one 6×6 patch of the 84×84 frame.
        self.human = nn.Sequential(
            nn.Conv2d(config.in_channels, 16 * m, 3, stride=3), nn.ReLU(),  # 84 -> 28
            nn.Conv2d(16 * m, 32 * m, 2, stride=2), nn.ReLU(),  # 28 -> 14
            nn.Conv2d(32 * m, 32 * m, 1), nn.ReLU(),  # 14 -> 14, mixes channels per cell
        )
        self.attention = SpatialAttention(config.channels, config.attention_hidden, config.rescale_attention)
        self.agent = nn.Sequential(
            nn.MaxPool2d(3, stride=2, padding=1),  # 14 -> 7
            ResidualBlock(config.channels, config.spectral_norm),
            ResidualBlock(config.channels, config.spectral_norm),
            nn.ReLU(),
            nn.AdaptiveMaxPool2d(config.pool_size),
            nn.Flatten(),
        )
        orthogonal_init_(self)
        # A near-zero scorer output starts the mask uniform (as the default init did): with gain √2 a
        # random mask would favour cells before anything is learned, and rescale_attention multiplies
        # the favoured cells' features by up to 196.
        nn.init.orthogonal_(self.attention.score[-1].weight, 0.01)

    @property
    def out_features(self) -> int:
        return self.config.out_features

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, mask = self.attention(self.human(_as_float_frames(obs, self.config.in_channels)))
        return self.agent(attended), mask


class NatureCNNEncoder(nn.Module):
    """The DQN Nature CNN (Mnih et al. 2015) on the same frames: the plain baseline, no attention."""

    def __init__(self, in_channels: int = 4, hidden: int = 512) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, hidden), nn.ReLU(),
        )
        orthogonal_init_(self)
        self.out_features = hidden

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(_as_float_frames(obs, self.in_channels))

