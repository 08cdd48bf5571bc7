"""WS3 world authoring: the shared model tests, and what is special to a knob-conditioned diffusers denoiser: the
null condition, classifier-free guidance in the pipeline, the pipeline's loading from a folder and through the HF
cache offline, and the student's teacher term."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from diffusers import DPMSolverMultistepScheduler

from uruk_hf import UrukWorldMapPipeline, UrukWS3WorldAuthoring, UrukWS3WorldAuthoringConfig
from uruk_hf.data.terrain.worldmap import measure_knobs_from_channels
from uruk_hf.schema import WORLD_KNOBS, WORLD_MAP_CHANNELS

from ..hub_cache import lay_out_hub_cache
from .test_modeling_common import ModelTesterMixin


class TestUrukWS3WorldAuthoring(ModelTesterMixin):
    model_class = UrukWS3WorldAuthoring
    config_class = UrukWS3WorldAuthoringConfig
    roles = ("teacher", "student")

    def random_inputs(self, config, batch=2, seed=0):
        generator = torch.Generator().manual_seed(seed)
        sample = torch.randn(batch, config.map_channels, 32, 32, generator=generator)
        return sample, torch.tensor([3, 700])[:batch], torch.rand(batch, config.num_knobs, generator=generator)

    def main_output(self, outputs) -> torch.Tensor:
        return outputs.sample

    def training_loss(self, model) -> torch.Tensor:
        sample, timesteps, knobs = self.random_inputs(model.config)
        return model(sample, timesteps, knobs=knobs).sample.square().mean()

    def test_sizes_follow_the_schema(self):
        config = UrukWS3WorldAuthoringConfig()
        assert config.map_channels == len(WORLD_MAP_CHANNELS) == 9 and config.num_knobs == len(WORLD_KNOBS) == 16

    def test_the_condition_matters_and_dropping_it_is_the_null_condition(self):
        model = self.tiny_model(seed=1)
        with torch.no_grad():
            model.null_condition.normal_()
        sample, timesteps, knobs = self.random_inputs(model.config)
        with torch.no_grad():
            conditioned = model(sample, timesteps, knobs=knobs).sample
            other = model(sample, timesteps, knobs=1.0 - knobs).sample
            dropped = model(sample, timesteps, knobs=knobs, drop_condition=torch.tensor([True, False])).sample
            unconditional = model(sample, timesteps).sample
        assert (conditioned - other).abs().max() > 1e-4
        torch.testing.assert_close(dropped[0], unconditional[0])
        torch.testing.assert_close(dropped[1], conditioned[1])

    def test_bad_inputs_are_named(self):
        model = self.tiny_model()
        sample, timesteps, knobs = self.random_inputs(model.config)
        with pytest.raises(ValueError, match=r"sample must be \(batch, 9, size, size\)"):
            model(sample[:, :8], timesteps, knobs=knobs)
        with pytest.raises(ValueError, match=r"knobs must be \(batch=2, 16\)"):
            model(sample, timesteps, knobs=knobs[:, :5])
        knobs[1, WORLD_KNOBS.index("roughness")] = float("nan")
        with pytest.raises(ValueError, match="roughness"):
            model(sample, timesteps, knobs=knobs)

    def test_what_it_predicts_is_named_and_required(self, tmp_path):
        with pytest.raises(ValueError, match="prediction_type 'epsilon' is not one of"):
            UrukWS3WorldAuthoringConfig.from_preset("tiny", prediction_type="epsilon")
        self.tiny_model().save_pretrained(tmp_path)
        saved = json.loads((tmp_path / "config.json").read_text())
        assert saved["prediction_type"] == "sample"
        del saved["prediction_type"]  # a folder saved when every model predicted the velocity
        (tmp_path / "config.json").write_text(json.dumps(saved))
        with pytest.raises(ValueError, match="lacks the fields \\['prediction_type'\\]"):
            UrukWS3WorldAuthoring.from_pretrained(tmp_path)
        # Folders saved before the knobs had features and maps, and before they scaled the residual blocks.
        for field in ("knob_features", "knob_maps", "resnet_time_scale_shift"):
            saved = self.tiny_model().config.to_dict()
            del saved[field]
            (tmp_path / "config.json").write_text(json.dumps(saved))
            with pytest.raises(ValueError, match=f"lacks the fields \\['{field}'\\]"):
                UrukWS3WorldAuthoring.from_pretrained(tmp_path)

    def test_the_condition_scales_and_shifts_each_residual_block(self):
        model = self.tiny_model()
        for block in (*model.unet.down_blocks, model.unet.mid_block, *model.unet.up_blocks):
            for resnet in block.resnets:
                assert resnet.time_emb_proj.out_features == 2 * resnet.conv1.out_channels  # a scale and a shift
        with pytest.raises(ValueError, match="resnet_time_scale_shift 'film' is not one of"):
            UrukWS3WorldAuthoringConfig.from_preset("tiny", resnet_time_scale_shift="film")

    def test_circular_padding_makes_the_denoiser_a_map_on_the_torus(self):
        torch.manual_seed(4)
        model = UrukWS3WorldAuthoring(UrukWS3WorldAuthoringConfig.from_preset("tiny", padding_mode="circular")).eval()
        sample, timesteps, _ = self.random_inputs(model.config)
        stride = model.config.map_stride  # shifts by whole U-Net cells at the lowest level
        shifted = torch.roll(sample, shifts=(stride, 2 * stride), dims=(-2, -1))
        with torch.no_grad():  # no condition: no knob maps, whose ramps are not periodic
            output, output_shifted = model(sample, timesteps).sample, model(shifted, timesteps).sample
        torch.testing.assert_close(torch.roll(output, shifts=(stride, 2 * stride), dims=(-2, -1)), output_shifted)
        zeros = UrukWS3WorldAuthoring(UrukWS3WorldAuthoringConfig.from_preset("tiny", padding_mode="zeros")).eval()
        zeros.load_state_dict(model.state_dict())
        with torch.no_grad():
            output, output_shifted = zeros(sample, timesteps).sample, zeros(shifted, timesteps).sample
        rolled = torch.roll(output, shifts=(stride, 2 * stride), dims=(-2, -1))
        assert (rolled - output_shifted).abs().max() > 1e-3  # zero padding: the edges are where the map ends
        with pytest.raises(ValueError, match="padding_mode 'reflect' is not one of"):
            UrukWS3WorldAuthoringConfig.from_preset("tiny", padding_mode="reflect")

    def test_a_student_starts_from_the_teachers_weights_cut_to_its_widths(self):
        teacher = self.tiny_model(seed=2)
        twin = self.tiny_model(seed=3)
        twin.initialize_from_teacher(teacher)  # the same widths: the same model
        sample, timesteps, knobs = self.random_inputs(teacher.config)
        with torch.no_grad():
            torch.testing.assert_close(twin(sample, timesteps, knobs=knobs).sample,
                                       teacher(sample, timesteps, knobs=knobs).sample)  # fmt: skip
        config = UrukWS3WorldAuthoringConfig.from_preset("tiny", block_out_channels=[8, 8, 16], norm_num_groups=8)
        student = UrukWS3WorldAuthoring(config)
        report = student.initialize_from_teacher(teacher)  # widths [16, 16, 32] -> [8, 8, 16], 8 groups each
        assert report["student_parameters"] < report["teacher_parameters"]
        ours, theirs = student.state_dict(), teacher.state_dict()

        def kept(width, narrower):  # in each of the 8 groups, its leading channels
            per_group, kept_per_group = width // 8, narrower // 8
            return torch.tensor([group * per_group + i for group in range(8) for i in range(kept_per_group)])

        torch.testing.assert_close(ours["unet.conv_in.weight"], theirs["unet.conv_in.weight"][kept(16, 8)])
        torch.testing.assert_close(ours["knob_embedding.0.weight"], theirs["knob_embedding.0.weight"][kept(64, 32)])
        # the up path's first block reads [hidden (32 wide at the teacher), skip (32)]: half of each part
        name = "unet.up_blocks.0.resnets.0.conv1.weight"
        both_parts = torch.cat([kept(32, 16), 32 + kept(32, 16)])
        torch.testing.assert_close(ours[name], theirs[name][kept(32, 16)][:, both_parts])
        with pytest.raises(ValueError, match="differs from this denoiser in \\['layers_per_block'\\]"):
            UrukWS3WorldAuthoring(
                UrukWS3WorldAuthoringConfig.from_preset("tiny", layers_per_block=2)
            ).initialize_from_teacher(teacher)
        with pytest.raises(ValueError, match="exceed the teacher's"):
            teacher.initialize_from_teacher(student)

    def test_a_narrower_timestep_embedding_reads_the_teachers_sinusoids_of_its_frequencies(self):
        from diffusers.models.embeddings import Timesteps

        def model(widths):  # first widths 48 and 32, as the full preset's teacher and student
            config = UrukWS3WorldAuthoringConfig.from_preset("tiny", block_out_channels=widths, norm_num_groups=16)
            return UrukWS3WorldAuthoring(config)

        teacher, student = model([48, 48, 96]), model([32, 32, 64])
        student.initialize_from_teacher(teacher)
        timesteps = torch.tensor([3.0, 250.0, 999.0])
        wide, narrow = Timesteps(48, True, 0)(timesteps), Timesteps(32, True, 0)(timesteps)
        rows = torch.tensor([group * 12 + i for group in range(16) for i in range(8)])  # 192 -> 128 in 16 groups
        name = "unet.time_embedding.linear_1.weight"
        ours, theirs = student.state_dict()[name], teacher.state_dict()[name][rows]
        matched = 0
        for column in range(32):
            same = [i for i in range(48) if torch.allclose(wide[:, i], narrow[:, column], atol=1e-4)]
            if same:  # every other sinusoid of the student's has its own frequency among the teacher's
                torch.testing.assert_close(ours[:, column], theirs[:, same[0]])
                matched += 1
        assert matched == 16

    def test_knobs_of_a_height_pattern_reach_the_unet_as_that_pattern(self):
        from uruk_hf.schema import WORLD_HEIGHT_LINEAR_KNOBS, world_height_knob_patterns

        model = self.tiny_model()
        sample, _, knobs = self.random_inputs(model.config)
        maps = model._knob_maps(sample, knobs, torch.tensor([False, True]))
        assert maps.shape == (2, len(WORLD_HEIGHT_LINEAR_KNOBS), 32, 32)
        patterns = torch.from_numpy(world_height_knob_patterns(32))
        for channel, name in enumerate(WORLD_HEIGHT_LINEAR_KNOBS):
            torch.testing.assert_close(maps[0, channel], (knobs[0, WORLD_KNOBS.index(name)] - 0.5) * patterns[channel])
        assert not maps[1].any()  # no condition, no pattern
        assert not model._knob_maps(sample, None, None).any()
        # The sinusoidal features tell apart two requests a hundredth apart far more than the knob itself does.
        near = knobs.clone()
        near[:, WORLD_KNOBS.index("tilt_x")] += 0.01
        assert (model._knob_features(near) - model._knob_features(knobs)).abs().max() > 0.5


def _pipeline(seed=0):
    config = UrukWS3WorldAuthoringConfig.from_preset("tiny")
    torch.manual_seed(seed)
    denoiser = UrukWS3WorldAuthoring(config).eval()
    return UrukWorldMapPipeline(denoiser, DPMSolverMultistepScheduler(**config.sampler_kwargs()))


def test_pipeline_samples_seeded_maps_per_request_with_and_without_guidance():
    pipeline = _pipeline()
    knobs = np.random.default_rng(0).uniform(size=(2, len(WORLD_KNOBS)))
    first = pipeline(knobs, 3, maps_per_request=2, generator=torch.Generator().manual_seed(5)).maps
    again = pipeline(knobs, 3, maps_per_request=2, generator=torch.Generator().manual_seed(5)).maps
    assert first.shape == (4, 9, 64, 64) and np.array_equal(first, again) and np.abs(first).max() <= 1
    unguided = pipeline(knobs, 3, guidance_scale=1.0, maps_per_request=2, generator=torch.Generator().manual_seed(5))
    assert not np.array_equal(unguided.maps, first)
    with pytest.raises(ValueError, match=r"knobs must lie in \[0, 1\]"):
        pipeline(knobs + 2.0, 2)


def test_pipeline_loads_from_its_folder_and_from_the_hub_cache_offline(tmp_path):
    pipeline = _pipeline(seed=3)
    subfolder = "workstreams/ws3_world_authoring"
    pipeline.save_pretrained(tmp_path / "repo" / subfolder)
    assert (tmp_path / "repo" / subfolder / "scheduler" / "scheduler_config.json").is_file()
    knobs = np.full((1, len(WORLD_KNOBS)), 0.5)
    expected = pipeline(knobs, 2, generator=torch.Generator().manual_seed(1)).maps
    local = UrukWorldMapPipeline.from_pretrained(tmp_path / "repo", subfolder=subfolder)
    assert isinstance(local.scheduler, DPMSolverMultistepScheduler)
    np.testing.assert_array_equal(local(knobs, 2, generator=torch.Generator().manual_seed(1)).maps, expected)

    lay_out_hub_cache(tmp_path / "hf_home", "org/uruk", tmp_path / "repo")
    script = textwrap.dedent(
        f"""
        import json, numpy as np, torch
        import uruk_hf
        from transformers import AutoModel
        from uruk_hf import UrukWorldMapPipeline
        pipeline = UrukWorldMapPipeline.from_pretrained("org/uruk", subfolder="{subfolder}")
        maps = pipeline(np.full((1, 16), 0.5), 2, generator=torch.Generator().manual_seed(1)).maps
        denoiser = AutoModel.from_pretrained("org/uruk", subfolder="{subfolder}")
        print(json.dumps([maps.tolist(), type(denoiser).__name__]))
        """
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    maps, name = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(maps, np.float32), expected, rtol=0, atol=1e-6)
    assert name == "UrukWS3WorldAuthoring"


@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction"])
def test_the_student_loss_adds_the_teacher_prediction_term(prediction_type):
    from uruk_hf.training.tasks.world_authoring import DenoiserDistillationWeights, WorldAuthoringTask

    config = UrukWS3WorldAuthoringConfig.from_preset("tiny", prediction_type=prediction_type)
    task = WorldAuthoringTask(config)
    torch.manual_seed(0)
    student_config = UrukWS3WorldAuthoringConfig.from_preset("tiny", role="student", prediction_type=prediction_type)
    student = UrukWS3WorldAuthoring(student_config)
    teacher = UrukWS3WorldAuthoring(config).eval()
    maps = torch.rand(2, 9, 64, 64) * 2 - 1
    batch = task.collate([{"maps": m.numpy(), "knobs": np.full(16, 0.3, np.float32)} for m in maps])
    outputs = task.forward(student, batch)
    teacher_outputs = task.teacher_outputs(teacher, batch)
    plain = task.distillation_loss(outputs, teacher_outputs, batch, None, DenoiserDistillationWeights(0.0))
    taught = task.distillation_loss(outputs, teacher_outputs, batch, None, DenoiserDistillationWeights(1.0))
    target = task.target(batch["maps"], batch["noise"], batch["timesteps"])
    if prediction_type == "sample":  # the clean maps are the target, and the teacher term compares them directly
        torch.testing.assert_close(target, batch["maps"])
        compared = outputs.sample, teacher_outputs.sample
    else:  # a velocity equal to the true one implies exactly the true noise; the term compares implied noise
        torch.testing.assert_close(task.implied_noise(target, batch), batch["noise"], rtol=1e-4, atol=1e-4)
        compared = (task.implied_noise(o.sample, batch) for o in (outputs, teacher_outputs))
    torch.testing.assert_close(taught - plain, torch.nn.functional.mse_loss(*compared))


def _task_and_generated_batch(prediction_type: str, maps: int, seed: int):
    """A tiny-preset `WorldAuthoringTask` and a collated batch of `maps` maps from the terrain generator."""
    from uruk_hf.data.terrain.procedural import generate_world, sample_knobs
    from uruk_hf.training.tasks.world_authoring import WorldAuthoringTask

    task = WorldAuthoringTask(UrukWS3WorldAuthoringConfig.from_preset("tiny", prediction_type=prediction_type))
    rng = np.random.default_rng(seed)
    worlds = [generate_world(sample_knobs(rng), rng) for _ in range(maps)]
    return task, task.collate([{"maps": w.to_channels(), "knobs": w.knobs()} for w in worlds])


@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction"])
def test_the_knob_consistency_term_scores_the_predicted_maps_knobs(prediction_type):
    from uruk_hf.training.tasks.world_authoring import WorldAuthoringLossWeights

    task, batch = _task_and_generated_batch(prediction_type, maps=3, seed=0)
    batch["drop_condition"] = torch.tensor([False, False, True])
    batch["timesteps"] = torch.tensor([10, 400, 10])
    exact = task.target(batch["maps"], batch["noise"], batch["timesteps"])  # the true clean map, or its velocity
    torch.testing.assert_close(task.clean_maps(exact, batch), batch["maps"], rtol=1e-4, atol=1e-4)
    assert float(task.knob_consistency(exact, batch)) < 1e-4  # a map meets its own knobs
    flat = exact.clone()
    flat[:, 0] = task.target(torch.zeros_like(batch["maps"]), batch["noise"], batch["timesteps"])[:, 0]
    error = (measure_knobs_from_channels(task.clean_maps(flat, batch)) - batch["knobs"]).abs().mean(dim=1)
    alpha_bar = task.scheduler.alphas_cumprod[batch["timesteps"]]
    expected = (alpha_bar[0] * error[0] + alpha_bar[1] * error[1]) / 3  # the row without a condition adds nothing
    torch.testing.assert_close(task.knob_consistency(flat, batch), expected, rtol=1e-4, atol=1e-5)
    outputs = type("Outputs", (), {"sample": flat})()
    plain = task.loss(outputs, batch, WorldAuthoringLossWeights(knob_consistency=0.0))
    weighted = task.loss(outputs, batch, WorldAuthoringLossWeights(knob_consistency=2.0))
    torch.testing.assert_close(weighted - plain, 2.0 * expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction"])
def test_the_height_gradient_term_scores_neighbour_differences_of_the_predicted_height(prediction_type):
    from uruk_hf.training.tasks.world_authoring import WorldAuthoringLossWeights

    task, batch = _task_and_generated_batch(prediction_type, maps=2, seed=1)
    batch["timesteps"] = torch.tensor([30, 600])
    noisy, alpha_bar = task._noisy_maps(batch, torch.device("cpu"))

    def predicting(clean):  # the prediction whose clean-map estimate is `clean`
        if prediction_type == "sample":
            return clean
        return (alpha_bar.sqrt() * noisy - clean) / (1 - alpha_bar).sqrt()

    assert float(task.height_gradient_error(predicting(batch["maps"]), batch)) < 1e-8
    size = batch["maps"].shape[-1]
    stripes = torch.zeros_like(batch["maps"])
    stripes[:, 0] = 0.1 * (torch.arange(size) % 2).float()  # alternating columns: differences of 0.1 along x only
    shifted = stripes.clone()
    shifted[:, 1:] = 0.5  # other channels and a constant height offset leave the term alone
    shifted[:, 0] += 0.3
    for offset in (stripes, shifted):
        error = task.height_gradient_error(predicting(batch["maps"] + offset), batch)
        torch.testing.assert_close(float(error), 0.01, rtol=1e-3, atol=1e-6)
    outputs = type("Outputs", (), {"sample": predicting(batch["maps"] + stripes)})()
    plain = task.loss(outputs, batch, WorldAuthoringLossWeights(knob_consistency=0.0))
    weighted = task.loss(outputs, batch, WorldAuthoringLossWeights(height_gradient=3.0))
    torch.testing.assert_close(float(weighted - plain), 0.03, rtol=1e-3, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_worlds(tmp_path_factory):
    """A tiny-preset `world_maps` dataset folder, generated once for this module."""
    from uruk_hf.data.folder import generate_dataset
    from uruk_hf.data.terrain.generator import WORLD_MAPS

    folder = tmp_path_factory.mktemp("worlds")
    generate_dataset(WORLD_MAPS, folder, "tiny", seed=0, progress=False)
    return folder


def test_the_lifecycle_saves_the_sampler_settings_with_the_lowest_validation_knob_error(tiny_worlds, tmp_path):
    """`Lifecycle.save_model` asks the task for a trained model's inference settings: WS3 samples the validation
    requests with every pair of `SAMPLER_STEPS` and `GUIDANCE_SCALES` from the same noise, records each one's knob
    error, and saves the model with the best."""
    from uruk_hf.catalog import get_family
    from uruk_hf.data.terrain.generator import knob_error
    from uruk_hf.training.run import Lifecycle
    from uruk_hf.training.tasks.world_authoring import GUIDANCE_SCALES, SAMPLER_STEPS, TUNING_REQUESTS, sample_worlds

    lifecycle = Lifecycle(get_family("ws3"), tiny_worlds, tmp_path / "run", "tiny", resume=False)
    model = lifecycle.new_model("ws3_world_authoring")
    model.config.guidance_scale, model.config.num_inference_steps = 3.0, 7  # not candidates: what is saved was chosen
    folder = lifecycle.save_model("ws3_world_authoring", model, {"stage": "production"})
    record = lifecycle.stages["inference_ws3_world_authoring"]
    requests = lifecycle.validation.knobs[:TUNING_REQUESTS]
    measured = {}
    for steps in SAMPLER_STEPS:
        for scale in GUIDANCE_SCALES:
            model.config.guidance_scale = scale
            measured[steps, scale] = knob_error(requests, sample_worlds(model, requests, steps=steps))["knob_error"]
    assert len(set(measured.values())) == len(measured)  # every pair samples different maps
    recorded = {(row["num_inference_steps"], row["guidance_scale"]): row["knob_error"] for row in record["candidates"]}
    assert recorded == pytest.approx(measured)
    best_steps, best_scale = min(measured, key=measured.get)
    assert (record["chosen_inference_steps"], record["chosen_guidance_scale"]) == (best_steps, best_scale)
    config = UrukWS3WorldAuthoringConfig.from_pretrained(folder)
    assert (config.num_inference_steps, config.guidance_scale) == (best_steps, best_scale)


def test_uruk_train_ws3_with_the_long_recipe_pads_circularly_averages_the_teacher_and_caps_its_steps(
    tiny_worlds, tmp_path, capsys
):
    from uruk_hf.cli import main

    output = tmp_path / "run"
    arguments = ["train", "ws3", "--data", str(tiny_worlds), "--output", str(output), "--preset", "tiny"]
    with pytest.raises(SystemExit) as stopped:
        main([*arguments, "--recipe", "medium"])
    assert stopped.value.code == 2
    assert "--recipe must be one of ['long', 'short'], got 'medium'." in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main([*arguments, "--production-steps", "2.5"])
    assert stopped.value.code == 2
    assert "--production-steps must be a whole number of steps above zero, got '2.5'." in capsys.readouterr().err
    assert main([*arguments, "--recipe", "long", "--production-steps", "3"]) == 0
    record = json.loads((output / "lifecycle.json").read_text())
    assert record["recipe"] == "long" and record["stages"]["student_init"]["method"] == "pruned teacher"
    assert record["production_steps"] == 3 and record["stages"]["production"]["steps"] == 3  # the preset's cap is 4
    candidates = [candidate["learning_rate"] for candidate in record["stages"]["calibration"]["candidates"]]
    assert candidates == [1e-3, 2e-3]  # the long recipe's own, not the tiny preset's
    assert record["stages"]["production"]["settings"]["ema_max_decay"] == 0.9999
    assert (output / "production" / "checkpoint" / "weight_average.safetensors").is_file()
    assert record["stages"]["distillation"]["stages"][0]["settings"]["ema_max_decay"] is None
    for key in ("ws3_world_authoring", "ws3_student"):
        config = UrukWS3WorldAuthoringConfig.from_pretrained(output / "models" / key)
        assert config.padding_mode == "circular"
        tuned = record["stages"][f"inference_{key}"]
        assert (config.num_inference_steps, config.guidance_scale) == (
            tuned["chosen_inference_steps"],
            tuned["chosen_guidance_scale"],
        )


def test_the_exported_denoiser_samples_the_pipelines_maps(tiny_worlds, tmp_path):
    """`export_onnx` validates the denoiser (prediction parity at two batch sizes); on ONNX Runtime it predicts
    what PyTorch does with and without knobs, `UrukWorldMapPipeline` samples the same maps around it, bad input is
    named, and the static int8 file calibrated on the task's inputs loads and samples."""
    from uruk_hf import UrukORTWS3WorldAuthoring
    from uruk_hf.exporters.onnx import export_onnx, quantize_onnx
    from uruk_hf.models.ws3_world_authoring.onnx_ws3_world_authoring import UrukWS3WorldAuthoringOnnxConfig
    from uruk_hf.training.tasks.world_authoring import WorldAuthoringTask, WorldMapSet

    torch.manual_seed(0)
    config = UrukWS3WorldAuthoringConfig.from_preset("tiny", role="teacher", padding_mode="circular")
    model = UrukWS3WorldAuthoring(config).eval()
    model.save_pretrained(tmp_path)
    record = export_onnx(tmp_path, tmp_path)
    assert [check["batch_size"] for check in record["validation"]] == [2, 5]
    assert all(check["prediction_max_difference"] <= 1e-4 for check in record["validation"])
    runtime = UrukORTWS3WorldAuthoring.from_pretrained(tmp_path)
    sample = torch.randn(3, config.map_channels, config.map_size, config.map_size)
    knobs = torch.rand(3, config.num_knobs)
    with torch.inference_mode():
        for kwargs in ({"knobs": knobs}, {}, {"knobs": knobs, "drop_condition": torch.tensor([True, False, True])}):
            expected = model(sample, 500, **kwargs).sample
            torch.testing.assert_close(runtime(sample, 500, **kwargs).sample, expected, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="knobs must be"):
        runtime(sample, 500, knobs=knobs[:, :3])
    scheduler = DPMSolverMultistepScheduler(**config.sampler_kwargs())
    request = np.random.default_rng(0).uniform(size=(2, config.num_knobs))
    maps = {}
    for name, denoiser in (("eager", model), ("onnx", runtime)):
        pipeline = UrukWorldMapPipeline(denoiser=denoiser, scheduler=scheduler)
        maps[name] = pipeline(request, 4, generator=torch.Generator().manual_seed(3)).maps
    np.testing.assert_allclose(maps["onnx"], maps["eager"], rtol=0, atol=1e-3)
    task = WorldAuthoringTask(config)
    calibration = task.calibration_inputs(model, WorldMapSet(tiny_worlds, "validation"), max_items=8)
    onnx_config = UrukWS3WorldAuthoringOnnxConfig
    quantize_onnx(
        tmp_path, calibration, operators=onnx_config.QUANTIZED_OPERATORS, float_modules=onnx_config.FLOAT_MODULES
    )
    quantized = UrukORTWS3WorldAuthoring.from_pretrained(tmp_path, file_name="model.int8.onnx")
    pipeline = UrukWorldMapPipeline(denoiser=quantized, scheduler=scheduler)
    assert np.isfinite(pipeline(request, 2, generator=torch.Generator().manual_seed(3)).maps).all()
