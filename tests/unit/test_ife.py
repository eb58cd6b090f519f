"""IFE without Ray: the encoder keeps the layout, the mask is a distribution over 14×14 cells, heads have the right shapes."""

from __future__ import annotations

import pytest
import torch

from nsrl_ray.rl_modules.ife_net import IFEConfig, IFEEncoder, NatureCNNEncoder, SpatialAttention

torch.set_num_threads(1)


def _frames(batch: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 4, 84, 84), dtype=torch.uint8, generator=generator)


def test_encoder_returns_features_and_a_14x14_mask_that_sums_to_one():
    torch.manual_seed(0)
    encoder = IFEEncoder(IFEConfig())
    features, mask = encoder(_frames())
    assert features.shape == (3, 64 * 8 * 8)  # IFE's 4096 features for m = 2
    assert mask.shape == (3, 14, 14)
    assert torch.allclose(mask.sum(dim=(1, 2)), torch.ones(3))
    assert (mask >= 0).all()


def test_channel_last_frames_and_float_frames_give_the_same_result():
    torch.manual_seed(0)
    encoder = IFEEncoder(IFEConfig(spectral_norm=False)).eval()
    frames = _frames()
    features, mask = encoder(frames)
    features_last, mask_last = encoder(frames.permute(0, 2, 3, 1).contiguous())
    features_float, _ = encoder(frames.float())
    assert torch.allclose(features, features_last, atol=1e-5) and torch.allclose(mask, mask_last, atol=1e-6)
    assert torch.allclose(features, features_float)


def test_a_cell_of_the_mask_depends_only_on_its_own_screen_patch():
    # Spatial alignment: kernel = stride down to 14×14, so cell (i, j) sees input rows/cols [6i, 6i+6) only.
    torch.manual_seed(0)
    encoder = IFEEncoder(IFEConfig(spectral_norm=False)).eval()
    frames = _frames(1)
    changed = frames.clone()
    changed[0, :, 30:36, 48:54] = 255 - changed[0, :, 30:36, 48:54]  # the patch of cell (5, 8)
    with torch.no_grad():
        cells = encoder.human(frames.float() / 255.0)
        cells_changed = encoder.human(changed.float() / 255.0)
    differs = (cells - cells_changed).abs().sum(dim=1)[0] > 1e-6
    assert differs[5, 8] and differs.sum() == 1


def test_attention_weights_the_features_and_keeps_the_layout():
    attention = SpatialAttention(channels=8, hidden=16, rescale=False)
    features = torch.randn(2, 8, 14, 14)
    attended, mask = attention(features)
    assert attended.shape == features.shape
    assert torch.allclose(attended, features * mask[:, None])
    rescaled = SpatialAttention(channels=8, hidden=16, rescale=True)
    rescaled.load_state_dict(attention.state_dict())
    assert torch.allclose(rescaled(features)[0], attended * 196)


def test_spectral_norm_bounds_the_residual_convolutions():
    torch.manual_seed(0)
    encoder = IFEEncoder(IFEConfig(spectral_norm=True)).train()
    for _ in range(20):  # power iterations converge over forward passes
        encoder(_frames(2))
    conv = encoder.agent[1].conv0
    assert hasattr(conv, "parametrizations")
    flat = conv.weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(flat, ord=2) == pytest.approx(1.0, abs=0.05)


def test_gradients_reach_the_attention_scorer():
    torch.manual_seed(0)
    encoder = IFEEncoder(IFEConfig(width=1, attention_hidden=32))
    features, _ = encoder(_frames(2))
    features.sum().backward()
    assert encoder.attention.score[0].weight.grad.abs().sum() > 0


def test_nature_cnn_shapes():
    assert NatureCNNEncoder()(_frames()).shape == (3, 512)


def test_bad_shapes_and_sizes_are_refused_with_what_was_expected():
    encoder = IFEEncoder()
    with pytest.raises(ValueError, match=r"expected 4 stacked frames"):
        encoder(torch.zeros(2, 3, 84, 84, dtype=torch.uint8))
    with pytest.raises(ValueError, match="expected a batch"):
        encoder(torch.zeros(4, 84, 84, dtype=torch.uint8))
    with pytest.raises(ValueError, match="width"):
        IFEConfig(width=0)


def _sprite_frames(batch: int, seed: int = 0) -> torch.Tensor:
    """Atari-like stacks: a flat grey background with one small bright sprite at a random place."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.full((batch, 4, 84, 84), 140, dtype=torch.uint8)
    for i, (row, col) in enumerate(torch.randint(0, 78, (batch, 2), generator=generator).tolist()):
        frames[i, :, row:row + 6, col:col + 6] = 230
    return frames


@pytest.mark.parametrize("make_encoder", [lambda: IFEEncoder(IFEConfig(width=1, attention_hidden=32)),
                                          lambda: NatureCNNEncoder(4, 64)], ids=["ife", "nature_cnn"])
def test_fresh_encoders_tell_sprite_positions_apart(make_encoder):
    # With PyTorch's default init the features of such frames varied across frames by 0.0004-0.0017
    # (orthogonal: 0.012-0.06): the heads' outputs hardly depended on the screen, and PPO on Boxing
    # showed a value explained variance of 0.000.
    torch.manual_seed(0)
    encoder = make_encoder()
    with torch.no_grad():
        out = encoder(_sprite_frames(64))
    features = out[0] if isinstance(out, tuple) else out
    spread = float(features.std(dim=0).mean())
    assert spread > 0.005, f"features barely depend on the frame (spread across frames {spread:.5f})"


def test_orthogonal_init_scales_every_layer_and_zeroes_biases():
    encoder = NatureCNNEncoder(4, 64)
    linear = encoder.net[-2]
    gram = linear.weight @ linear.weight.T  # 64 rows, orthonormal up to the gain
    assert torch.allclose(gram, 2.0 * torch.eye(64), atol=1e-4)
    assert all(float(layer.bias.abs().max()) == 0.0 for layer in encoder.modules() if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)))


def test_a_fresh_mask_is_close_to_uniform():
    torch.manual_seed(0)
    _, mask = IFEEncoder(IFEConfig(width=1, attention_hidden=32))(_sprite_frames(8))
    assert float(mask.max()) < 2.0 / 196  # no cell gets more than twice its uniform share at the start


def test_a_fresh_encoder_is_spectrally_normalised_before_any_training_pass():
    # EnvRunners act in eval mode, where spectral norm runs no power iteration: re-initialising the
    # weights after wrapping left stale vectors, effective norms of 13-24 instead of 1, and PPO read
    # the gap between EnvRunner and learner as a KL of ~0.8 in its first update.
    torch.manual_seed(0)
    encoder = IFEEncoder(IFEConfig(width=1, attention_hidden=32, spectral_norm=True)).eval()
    convs = [block.conv0 for block in encoder.agent if hasattr(block, "conv0")]
    convs += [block.conv1 for block in encoder.agent if hasattr(block, "conv1")]
    assert len(convs) == 4
    for conv in convs:
        assert torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2) == pytest.approx(1.0, abs=0.02)
