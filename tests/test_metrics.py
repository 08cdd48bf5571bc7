"""Metrics: one convention (tone map, data_range=1), torchmetrics and flip-evaluator underneath, and the local
`evaluate` modules that expose them."""

import numpy as np
import pytest
import torch

from uruk_hf.evaluate_modules import load_metric
from uruk_hf.metrics import error_variance_bias, frame_metrics, material_metrics, ms_ssim_settings, temporal_error
from uruk_hf.tonemap import tonemap


def test_psnr_is_computed_after_the_tone_map():
    target = torch.rand(2, 3, 32, 32) * 4
    prediction = target * 1.1
    display_mse = ((tonemap(prediction) - tonemap(target)) ** 2).mean(dim=(1, 2, 3))
    expected = float((10 * torch.log10(1.0 / display_mse)).mean())
    assert frame_metrics(prediction, target, flip=False)["psnr"] == pytest.approx(expected, rel=1e-5)
    identical = frame_metrics(target, target)
    assert identical["ssim"] == pytest.approx(1.0) and identical["flip"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("size,kernel,scales", [(256, 11, 5), (128, 7, 4), (64, 7, 3), (24, 5, 2), (16, 3, 2)])
def test_ms_ssim_settings_follow_the_resolution(size, kernel, scales):
    settings = ms_ssim_settings(size, size + 10)
    assert settings["kernel_size"] == kernel and len(settings["betas"]) == scales
    assert sum(settings["betas"]) == pytest.approx(1.0)
    frames = torch.rand(1, 3, size, size)
    assert 0 < frame_metrics(frames * 0.8, frames, flip=False)["ms_ssim"] <= 1


def test_bad_frames_are_refused():
    with pytest.raises(ValueError, match="must be \\(B, 3, H, W\\)"):
        frame_metrics(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match="prediction holds NaN"):
        frame_metrics(torch.full((1, 3, 8, 8), float("nan")), torch.rand(1, 3, 8, 8))


def test_error_splits_into_variance_reference_noise_and_bias():
    generator = torch.Generator().manual_seed(0)
    truth = 0.2 + torch.rand(4, 3, 64, 64, generator=generator)

    def noisy(frames, sigma):
        return frames + sigma * torch.randn(frames.shape, generator=generator)

    # A renderer 5% too bright with noise twice the reference's: small noise, so the tone map is locally linear.
    biased = truth * 1.05
    split = error_variance_bias(noisy(biased, 0.02), noisy(biased, 0.02), noisy(truth, 0.01), noisy(truth, 0.01))
    means = {name: float(value.mean()) for name, value in split.items()}

    def expected_variance(frames, sigma):  # sigma^2 times the tone map's squared slope at the frames
        slope = (tonemap(frames + 1e-3) - tonemap(frames - 1e-3)) / 2e-3
        return float((sigma * slope).pow(2).mean())

    assert means["variance"] == pytest.approx(expected_variance(biased, 0.02), rel=0.05)
    assert means["reference_noise"] == pytest.approx(expected_variance(truth, 0.01), rel=0.05)
    squared_bias = float((tonemap(biased) - tonemap(truth)).pow(2).mean())
    assert means["bias_squared"] == pytest.approx(squared_bias, rel=0.05)
    assert means["error"] == pytest.approx(means["variance"] + means["reference_noise"] + means["bias_squared"])
    assert split["error"].shape == (4, 64, 64)
    with pytest.raises(ValueError, match="target_independent \\(4, 3, 64, 63\\)"):
        error_variance_bias(truth, truth, truth, truth[..., :63])


def test_material_metrics_ignore_unlabelled_pixels():
    labels = np.array([0, 0, 1, 1, 2, -100, -100])
    predicted = np.array([0, 1, 1, 1, 1, 2, 2])
    metrics = material_metrics(predicted, labels, num_classes=3)
    assert metrics["material_accuracy"] == pytest.approx(3 / 5)
    # IoU: class 0 1/2, class 1 2/4, class 2 0/1
    assert metrics["material_miou"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert metrics["material_balanced_accuracy"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    with pytest.raises(ValueError, match="No labelled pixels"):
        material_metrics(predicted, np.full(7, -100), 3)


def test_temporal_error_is_zero_for_a_static_scene_and_sees_flicker():
    frames = torch.rand(1, 1, 3, 16, 16).repeat(1, 3, 1, 1, 1)
    motion, valid = torch.zeros(1, 3, 2, 16, 16), torch.ones(1, 3, 1, 16, 16)
    assert temporal_error(frames, motion, valid) == pytest.approx(0.0, abs=1e-6)
    flicker = frames.clone()
    flicker[:, 1] += 0.5
    assert temporal_error(flicker, motion, valid) > 0.01
    assert temporal_error(flicker, motion, torch.zeros_like(valid)) == 0.0


def test_evaluate_modules_match_the_library():
    predictions = np.random.default_rng(0).uniform(0, 3, (2, 3, 40, 40)).astype(np.float32)
    references = predictions * 0.9
    quality = load_metric("uruk_frame_quality")
    quality.add_batch(predictions=list(predictions), references=list(references))
    assert quality.compute() == pytest.approx(
        frame_metrics(torch.from_numpy(predictions), torch.from_numpy(references))
    )
    segmentation = load_metric("uruk_material_segmentation")
    result = segmentation.compute(
        predictions=[np.array([[0, 1], [2, 2]])], references=[np.array([[0, 1], [1, -100]])], num_labels=3
    )
    assert result == material_metrics(np.array([0, 1, 2]), np.array([0, 1, 1]), 3)
    with pytest.raises(ValueError, match="Unknown metric 'psnr'"):
        load_metric("psnr")
