"""The partial-label loss: known stems are scored on their own, unknown ones only as a sum."""

from __future__ import annotations

import pytest
import torch

from training import spec
from training.losses import LossConfig, SeparationLoss

BINS = 64
FRAMES = 16


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random stems -> (est spec, ref spec, ref wave) in the model layout, 2 items x 4 stems."""
    g = torch.Generator().manual_seed(seed)
    n = spec.samples_for(FRAMES)
    ref_audio = torch.randn(2, 4, 2, n, generator=g) * 0.1
    est_audio = ref_audio + torch.randn(2, 4, 2, n, generator=g) * 0.05
    ref = spec.to_model(spec.stft(ref_audio), BINS)
    est = spec.to_model(spec.stft(est_audio), BINS)
    return est, ref, spec.istft(spec.from_model(ref), n)


@pytest.fixture(params=[(1.0, 0.0), (0.0, 0.1), (1.0, 0.1)], ids=["l1", "sdr", "both"])
def loss_fn(request: pytest.FixtureRequest) -> SeparationLoss:
    l1, time_sdr = request.param
    return SeparationLoss(LossConfig(spec_l1=l1, time_sdr=time_sdr))


def test_shuffling_content_between_unknown_stems_leaves_the_loss_unchanged(
    loss_fn: SeparationLoss,
) -> None:
    est, ref, wave = _batch(0)
    # item 0: vocals known, the rest only as a sum; item 1: vocals + drums known
    known = torch.tensor([[True, False, False, False], [True, True, False, False]])
    base, _ = loss_fn(est, ref, wave, known)
    # move content between unknown stems: all of it into one, or a random split
    moved_ref, moved_wave = ref.clone(), wave.clone()
    moved_ref[0, 1] = ref[0, 1:].sum(0)
    moved_ref[0, 2:] = 0
    moved_wave[0, 1] = wave[0, 1:].sum(0)
    moved_wave[0, 2:] = 0
    a = torch.rand(1)
    moved_ref[1, 2], moved_ref[1, 3] = a * ref[1, 2:].sum(0), (1 - a) * ref[1, 2:].sum(0)
    moved_wave[1, 2], moved_wave[1, 3] = a * wave[1, 2:].sum(0), (1 - a) * wave[1, 2:].sum(0)
    moved, _ = loss_fn(est, moved_ref, moved_wave, known)
    assert torch.allclose(base, moved, rtol=1e-4, atol=1e-6)
    # with every stem known the same shuffle does change the loss
    full, _ = loss_fn(est, ref, wave)
    full_moved, _ = loss_fn(est, moved_ref, moved_wave)
    assert not torch.allclose(full, full_moved, rtol=1e-3)


def test_known_stems_keep_their_own_loss(loss_fn: SeparationLoss) -> None:
    est, ref, wave = _batch(1)
    known = torch.tensor([[True, False, False, False], [True, False, False, False]])
    base, _ = loss_fn(est, ref, wave, known)
    # a worse vocal estimate (a known stem) costs more, even though the sum of all stems is
    # unchanged when the error is moved into an unknown stem
    worse = est.clone()
    err = torch.randn_like(est[:, 0]) * est[:, 0].abs().mean()
    worse[:, 0] += err
    worse[:, 1] -= err
    assert float(loss_fn(worse, ref, wave, known)[0]) > float(base) + 1e-3
    # errors that cancel inside the unknown group cost nothing
    shifted = est.clone()
    shifted[:, 1] += err
    shifted[:, 2] -= err
    assert torch.allclose(loss_fn(shifted, ref, wave, known)[0], base, rtol=1e-4, atol=1e-6)


def test_all_known_equals_the_plain_loss(loss_fn: SeparationLoss) -> None:
    est, ref, wave = _batch(2)
    plain, parts = loss_fn(est, ref, wave)
    masked, _ = loss_fn(est, ref, wave, torch.ones(2, 4, dtype=torch.bool))
    assert torch.allclose(plain, masked)
    # the plain L1 is the mean error over the mean reference magnitude
    if loss_fn.config.spec_l1 and not loss_fn.config.time_sdr:
        expected = (est - ref).abs().mean() / ref.abs().mean()
        assert parts["spec_l1"] == pytest.approx(float(expected), rel=1e-5)


def test_level_term_penalises_a_silent_estimate_of_an_audible_stem() -> None:
    _, ref, wave = _batch(3)
    loss_fn = SeparationLoss(LossConfig(spec_l1=0.0, time_sdr=0.0, level=1.0))
    good, _ = loss_fn(ref, ref, wave)
    silent_bass = ref.clone()
    silent_bass[:, 2] = 0
    bad, parts = loss_fn(silent_bass, ref, wave)
    assert float(good) < 1e-3
    assert float(bad) > 0.5  # bels: a silent bass costs several orders of magnitude of energy
    assert parts["level"] == pytest.approx(float(bad))


def test_a_silent_target_costs_a_bounded_amount_and_faint_bleed_costs_nothing() -> None:
    """Instrumental items have silent vocals: their SDR term must not drown the other stems."""
    _, ref, wave = _batch(4)
    ref[:, 0] = 0
    wave[:, 0] = 0
    loss_fn = SeparationLoss(LossConfig(spec_l1=0.0, time_sdr=1.0))
    old = SeparationLoss(LossConfig(spec_l1=0.0, time_sdr=1.0, sdr_floor_db=None))
    exact, _ = loss_fn(ref, ref, wave)
    faint = ref.clone()
    faint[:, 0] = ref[:, 1] * 10 ** (-50 / 20)  # vocal bleed 50 dB under the drums
    loud = ref.clone()
    loud[:, 0] = ref[:, 1]  # the drums copied into the vocals
    assert float(loss_fn(faint, ref, wave)[0]) == pytest.approx(float(exact), abs=0.02)
    assert float(loss_fn(loud, ref, wave)[0]) > float(exact) + 0.3
    # the old absolute floor charged inaudible bleed like a real error
    assert float(old(faint, ref, wave)[0]) - float(old(ref, ref, wave)[0]) > 0.5
