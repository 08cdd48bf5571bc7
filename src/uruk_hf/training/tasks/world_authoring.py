"""The task of WS3 world authoring: denoising world maps conditioned on their measured knobs (diffusers'
`DDPMScheduler` noise; the model predicts the clean map, or the velocity, as its config's `prediction_type` says),
with condition dropout for classifier-free guidance, a knob-consistency term (the knobs measured from the
predicted clean map against the requested ones) and, when its weight asks, a height-gradient term
(`WorldAuthoringLossWeights`).

Each batch draws its noise, timesteps and dropped conditions in `collate`, so a student and its frozen teacher see
the same noisy maps. The teacher term of a student compares the two predictions: for a velocity model, the noise
each one's velocity implies for the noisy map; for a clean-map model, the clean maps themselves (the noise a clean
map implies, `(noisy - sqrt(alpha_bar) * map) / sqrt(1 - alpha_bar)`, would weight each timestep's error by its
signal-to-noise ratio, thousands of times more at the lowest timesteps than at the middle ones). Validation
measures the held-out denoising loss (the training objective: the squared error of the prediction) on a fixed grid
of timesteps and seeded noise (`DENOISING_STEPS`).
`evaluate(full=True)` adds sampling through `UrukWorldMapPipeline` (DPM-Solver++, the config's steps and guidance):
the knob error of a map sampled for each of the first `SAMPLED_REQUESTS` test requests, with its standard error over
the requests and its ratio to nearest-neighbour retrieval's on the same requests (`knob_error_to_retrieval`), the
diversity of `DIVERSITY_SAMPLES` maps for each of the first `DIVERSITY_REQUESTS` requests, and seconds per map (one
map at a time, and in batches); the knob error and seconds per map also at `REFERENCE_STEPS` steps when the model's
own steps differ.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...data.folder import load_split
from ...data.terrain.generator import (
    KNOB_ADHERENCE_COLUMNS,
    fixed_knob_diversity,
    knob_error,
    nearest_neighbour_worlds,
    with_retrieval_ratio,
)
from ...data.terrain.worldmap import WorldMap, measure_knobs_from_channels
from .base import Task

__all__ = [
    "DenoiserDistillationWeights",
    "WorldAuthoringLossWeights",
    "WorldAuthoringTask",
    "WorldMapSet",
    "sample_worlds",
    "seconds_per_map",
]

DENOISING_STEPS = (50, 150, 300, 500, 700, 900)
"""Timesteps of the held-out denoising loss."""

DENOISING_MAPS = 64
"""Maps of the split the validation denoising loss averages over (every one with `evaluate(full=True)`)."""

SAMPLED_REQUESTS = 256
"""Test requests (the first ones) a full evaluation samples a map for: every one of the quick preset's 200, an eighth
of the full preset's 2,000. The knob error's standard error over the requests is about 1.7% of it over 200 requests
(0.0007 of 0.042 for the quick-size teachers), twice that over 64; sampling the same requests from other noise moved
it by at most 0.0010 (three noise seeds, two teachers)."""

TUNING_REQUESTS = 64
"""Validation requests (the first ones) `WorldAuthoringTask.tune_inference` samples with every sampler setting."""

DIVERSITY_REQUESTS, DIVERSITY_SAMPLES = 4, 4
"""Requests, and maps per request, of the diversity at fixed knobs."""

REFERENCE_STEPS = 25
"""Sampler steps every model is also measured at (knob error and seconds per map) when its own differ."""

SAMPLER_STEPS = (10, 25)
"""The DPM-Solver++ step counts `WorldAuthoringTask.tune_inference` chooses from. Fewer steps sampled maps closer to
their knobs: over 200 validation requests the four quick-size `long` teachers' knob error at 10 steps was 0.3-4.4%
below their error at 25 (15 steps in between, or level with 10). They also vary less at fixed knobs: at 10 steps as
much as the generator itself, at 25 more, at 5 less (README, WS3), hence no fewer than 10."""

GUIDANCE_SCALES = (1.0, 1.25)
"""The classifier-free guidance scales `WorldAuthoringTask.tune_inference` chooses from (1 samples without the
unconditional pass, in half the time). 1.5 is no longer offered: it was the worst of the three, or level, for every
model measured, after the quick preset's minutes (teachers by 6-8%) and after 3,000 steps (by 10-19%; README,
WS3)."""


@dataclass(frozen=True)
class WorldAuthoringLossWeights:
    """Weights of the terms of the WS3 denoising loss.

    Attributes:
        denoising (`float`): the squared error of the prediction (`WorldAuthoringTask.target`).
        knob_consistency (`float`): the knob-consistency term (`WorldAuthoringTask.knob_consistency`): the mean
            absolute error between the knobs measured from the predicted clean map and the requested knobs.
        height_gradient (`float`): the height-gradient term (`WorldAuthoringTask.height_gradient_error`): the
            squared error of the predicted clean map's height differences between neighbouring cells.
    """

    denoising: float = 1.0
    knob_consistency: float = 0.0
    height_gradient: float = 0.0


@dataclass(frozen=True)
class DenoiserDistillationWeights:
    """The teacher term of a WS3 student.

    Attributes:
        teacher_prediction (`float`): weight of the squared error to the teacher's prediction
            (`WorldAuthoringTask.teacher_term_values`), beside the task's own squared error to the true target.
    """

    teacher_prediction: float = 1.0


class WorldMapSet(torch.utils.data.Dataset):
    """The maps of one split of a `world_maps` folder as model channels, with their measured knobs.

    Args:
        folder: the dataset folder.
        split: `train`, `validation` or `test`.
        max_items: keep only the first maps (Smoke, tests).
    """

    def __init__(self, folder: str | Path, split: str, max_items: int | None = None):
        self.folder, self.split = Path(folder), split
        data = load_split(folder, split, ["height", "material", "props", "knobs"])
        count = len(data["knobs"]) if max_items is None else min(max_items, len(data["knobs"]))
        self.height = data["height"][:count].astype(np.float32)
        self.material = data["material"][:count].astype(np.int64)
        self.props = data["props"][:count].astype(np.float32)
        self.knobs = data["knobs"][:count].astype(np.float32)

    def __len__(self) -> int:
        return len(self.knobs)

    def world(self, index: int) -> WorldMap:
        return WorldMap(self.height[index], self.material[index], self.props[index])

    def __getitem__(self, index: int) -> dict:
        return {"maps": self.world(index).to_channels(), "knobs": self.knobs[index]}


def sample_worlds(model, knobs: np.ndarray, maps_per_request: int = 1, batch_size: int = 100, seed: int = 0,
                  steps: int | None = None) -> list[WorldMap]:  # fmt: skip
    """Maps sampled by `UrukWorldMapPipeline` around `model` for each row of `knobs` (seeded, in batches)."""
    from diffusers import DPMSolverMultistepScheduler

    from ...pipelines import UrukWorldMapPipeline

    scheduler = DPMSolverMultistepScheduler(**model.config.sampler_kwargs())
    pipeline = UrukWorldMapPipeline(denoiser=model.eval(), scheduler=scheduler)
    pipeline.set_progress_bar_config(disable=True)
    generator = torch.Generator().manual_seed(seed)
    worlds = []
    per_call = max(1, batch_size // maps_per_request)
    for begin in range(0, len(knobs), per_call):
        maps = pipeline(knobs[begin : begin + per_call], steps, maps_per_request=maps_per_request, generator=generator)
        worlds += [WorldMap.from_channels(channels) for channels in maps.maps]
    return worlds


def seconds_per_map(model, knobs: np.ndarray, steps: int | None = None) -> float:
    """The median seconds of `sample_worlds` for one map, over the first three rows of `knobs`."""
    timings = []
    for index in range(3):
        started = time.perf_counter()
        sample_worlds(model, knobs[index : index + 1], seed=index, steps=steps)
        timings.append(time.perf_counter() - started)
    return float(np.median(timings))


class WorldAuthoringTask(Task):
    """The WS3 task (see the module docstring). Gates compare the held-out denoising score (minus the loss) with
    predicting zero everywhere; `gate_margin_scale` turns the preset's margin into loss units."""

    gate_metric = "denoising_score"
    gate_baseline = "predict_zero"
    gate_margin_scale = 0.05
    loss_weights_class = WorldAuthoringLossWeights
    report_columns = (
        KNOB_ADHERENCE_COLUMNS[0],
        ("knob_error_to_retrieval", "ratio to retrieval"),
        ("knob_error_standard_error", "s.e."),
        *KNOB_ADHERENCE_COLUMNS[1:],
        ("denoising_loss", "held-out denoising loss"),
        ("inference_steps", "steps"),
        ("seconds_per_map", "s/map"),
        (f"seconds_per_map_{REFERENCE_STEPS}_steps", f"s/map at {REFERENCE_STEPS} steps"),
    )
    curve_metrics = (("denoising_loss", "validation denoising loss"),)
    int8_metrics = ("knob_error", "denoising_loss", "seconds_per_map")
    card_template = "model_card_world_authoring.md.j2"
    card_tags = ("procedural-generation", "terrain", "diffusion", "diffusers", "pytorch")

    def __init__(self, config):
        from diffusers import DDPMScheduler

        super().__init__(config)
        self.scheduler = DDPMScheduler(**config.scheduler_kwargs())

    def dataset(self, data, split: str, max_items: int | None = None) -> WorldMapSet:
        return WorldMapSet(data, split, max_items)

    def collate(self, items: list[dict]) -> dict:
        maps = torch.from_numpy(np.stack([item["maps"] for item in items]))
        count = len(items)
        return {
            "maps": maps,
            "knobs": torch.from_numpy(np.stack([item["knobs"] for item in items])),
            "noise": torch.randn_like(maps),
            "timesteps": torch.randint(0, self.config.num_train_timesteps, (count,)),
            "drop_condition": torch.rand(count) < self.config.condition_dropout,
        }

    def forward(self, model, batch: dict):
        noisy = self.scheduler.add_noise(batch["maps"], batch["noise"], batch["timesteps"])
        return model(noisy, batch["timesteps"], knobs=batch["knobs"], drop_condition=batch["drop_condition"])

    def target(self, maps: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """What the model predicts: the clean maps (`"sample"`) or their velocity (`"v_prediction"`)."""
        if self.config.prediction_type == "sample":
            return maps
        return self.scheduler.get_velocity(maps, noise, timesteps)

    def _signal_share(self, batch: dict, device: torch.device) -> torch.Tensor:
        """`alpha_bar(t)` of each row of the batch, `(batch_size,)`."""
        return self.scheduler.alphas_cumprod.to(device)[batch["timesteps"]]

    def _noisy_maps(self, batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's noisy maps and the signal share `alpha_bar` of each (shaped to broadcast over a map)."""
        alpha_bar = self._signal_share(batch, device).view(-1, 1, 1, 1)
        return self.scheduler.add_noise(batch["maps"], batch["noise"], batch["timesteps"]), alpha_bar

    def implied_noise(self, velocity: torch.Tensor, batch: dict) -> torch.Tensor:
        """The noise a velocity prediction implies for the batch's noisy maps:
        `sqrt(alpha_bar) * v + sqrt(1 - alpha_bar) * noisy`."""
        noisy, alpha_bar = self._noisy_maps(batch, velocity.device)
        return alpha_bar.sqrt() * velocity + (1 - alpha_bar).sqrt() * noisy

    def teacher_term_values(self, prediction: torch.Tensor, batch: dict) -> torch.Tensor:
        """What the teacher term compares (see the module docstring): the clean maps a clean-map model predicts,
        the noise a velocity implies."""
        if self.config.prediction_type == "sample":
            return prediction
        return self.implied_noise(prediction, batch)

    def clean_maps(self, prediction: torch.Tensor, batch: dict) -> torch.Tensor:
        """The clean maps a prediction stands for: itself for a clean-map model; for a velocity model,
        `sqrt(alpha_bar) * noisy - sqrt(1 - alpha_bar) * v`."""
        if self.config.prediction_type == "sample":
            return prediction
        noisy, alpha_bar = self._noisy_maps(batch, prediction.device)
        return alpha_bar.sqrt() * noisy - (1 - alpha_bar).sqrt() * prediction

    def knob_consistency(self, prediction: torch.Tensor, batch: dict) -> torch.Tensor:
        """The knob-consistency term (the cycle-consistency reward of ControlNet++, Li et al. 2024, with the knob
        measurement as the condition extractor): the mean absolute error between the knobs measured from the
        predicted clean map (`measure_knobs_from_channels`, differentiable) and the requested ones, over the rows
        that kept their condition, each weighted by its signal share `alpha_bar(t)`. A training map meets its
        knobs exactly, so the term asks nothing the data does not; the weight keeps it away from the noisiest
        timesteps, whose best clean-map estimate is a blurred mean that meets no knob of spread or detail. The
        middle timesteps' estimates are blurred too, and being asked for a map's spread there leaves the sampled
        maps' height spread above the request (README, WS3); asked only near t = 0 the term loses most of what it
        buys (the props count)."""
        measured = measure_knobs_from_channels(self.clean_maps(prediction, batch))
        weight = (
            self._signal_share(batch, prediction.device) * (~batch["drop_condition"].to(prediction.device)).float()
        )
        error = (measured - batch["knobs"].to(measured.device)).abs().mean(dim=1)
        return (weight * error).sum() / len(error)

    def height_gradient_error(self, prediction: torch.Tensor, batch: dict) -> torch.Tensor:
        """The height-gradient term: the mean squared error of the height differences between neighbouring cells
        of the predicted clean map against the true map's, along x plus along z. The plain squared error spreads
        over all channels, where the material channels' edges dominate it (their cell-to-cell differences have a
        mean square of 0.21, the height's 0.0044, on the quick data), so the relief at the scale of a few cells,
        which the roughness and ridge-direction knobs measure from gradients, counts for little. A difference is
        linear in the map: the term weights each height frequency `f` by `4 sin^2(pi f)` and leaves the best
        estimate (the posterior mean) what it was."""
        error = self.clean_maps(prediction, batch)[:, 0] - batch["maps"][:, 0].to(prediction.device)
        return error.diff(dim=-1).pow(2).mean() + error.diff(dim=-2).pow(2).mean()

    def loss(self, outputs, batch: dict, weights) -> torch.Tensor:
        """`weights.denoising` x the squared error of the prediction (`target`) plus `weights.knob_consistency` x
        the knob-consistency term plus `weights.height_gradient` x the height-gradient term."""
        weights = weights if weights is not None else WorldAuthoringLossWeights()
        target = self.target(batch["maps"], batch["noise"], batch["timesteps"])
        loss = weights.denoising * torch.nn.functional.mse_loss(outputs.sample, target)
        if weights.knob_consistency:
            loss = loss + weights.knob_consistency * self.knob_consistency(outputs.sample, batch)
        if weights.height_gradient:
            loss = loss + weights.height_gradient * self.height_gradient_error(outputs.sample, batch)
        return loss

    def uses_teacher(self, terms) -> bool:
        return bool(terms is not None and terms.teacher_prediction)

    def distillation_loss(self, student_outputs, teacher_outputs, batch, weights, terms) -> torch.Tensor:
        """The task loss plus `terms.teacher_prediction` x the squared error between the student's and the teacher's
        predictions (`teacher_term_values`)."""
        loss = self.loss(student_outputs, batch, weights)
        if not self.uses_teacher(terms):
            return loss
        teacher = self.teacher_term_values(teacher_outputs.sample.detach(), batch)
        student = self.teacher_term_values(student_outputs.sample, batch)
        return loss + terms.teacher_prediction * torch.nn.functional.mse_loss(student, teacher)

    # Measurement ----------------------------------------------------------------------------------------------
    def denoising_loss(self, model, dataset: WorldMapSet, count: int | None, batch_size: int = 32) -> float:
        """The mean squared error of the prediction (`target`) over the first `count` maps of `dataset` at every
        timestep of `DENOISING_STEPS`, the noise seeded, conditioned on each map's knobs."""
        count = len(dataset) if count is None else min(count, len(dataset))
        generator = torch.Generator().manual_seed(1234)
        losses = []
        with torch.inference_mode():
            for begin in range(0, count, batch_size):
                maps = torch.from_numpy(
                    np.stack([dataset[i]["maps"] for i in range(begin, min(count, begin + batch_size))])
                )
                knobs = torch.from_numpy(dataset.knobs[begin : begin + len(maps)])
                for step in DENOISING_STEPS:
                    noise = torch.randn(maps.shape, generator=generator)
                    timesteps = torch.full((len(maps),), step, dtype=torch.long)
                    noisy = self.scheduler.add_noise(maps, noise, timesteps)
                    predicted = model(noisy, timesteps, knobs=knobs).sample
                    target = self.target(maps, noise, timesteps)
                    losses.append(float(((predicted - target) ** 2).mean()) * len(maps))
        return float(np.sum(losses) / (count * len(DENOISING_STEPS)))

    def evaluate(self, model, dataset: WorldMapSet, full: bool = False) -> dict[str, float]:
        """The held-out denoising loss (and score); with `full`, sampling: knob error, diversity, seconds per map
        (see the module docstring)."""
        model.eval()
        loss = self.denoising_loss(model, dataset, None if full else DENOISING_MAPS)
        metrics = {"denoising_loss": loss, "denoising_score": -loss}
        if not full:
            return metrics
        requests = dataset.knobs[:SAMPLED_REQUESTS]
        started = time.perf_counter()
        worlds = sample_worlds(model, requests)
        metrics["seconds_per_map_batched"] = (time.perf_counter() - started) / len(worlds)
        retrieval = knob_error(requests, nearest_neighbour_worlds(dataset.folder, requests))
        metrics.update(with_retrieval_ratio(knob_error(requests, worlds), retrieval))
        metrics["retrieval_knob_error"] = retrieval["knob_error"]
        at_reference = model.config.num_inference_steps == REFERENCE_STEPS
        if not at_reference:
            reference = knob_error(requests, sample_worlds(model, requests, steps=REFERENCE_STEPS))
            metrics[f"knob_error_{REFERENCE_STEPS}_steps"] = reference["knob_error"]
        metrics["sampled_requests"] = len(requests)
        groups = sample_worlds(model, dataset.knobs[:DIVERSITY_REQUESTS], DIVERSITY_SAMPLES, seed=1)
        grouped = [groups[i : i + DIVERSITY_SAMPLES] for i in range(0, len(groups), DIVERSITY_SAMPLES)]
        metrics["diversity"] = fixed_knob_diversity(grouped)
        metrics["seconds_per_map"] = seconds_per_map(model, dataset.knobs)
        if not at_reference:
            metrics[f"seconds_per_map_{REFERENCE_STEPS}_steps"] = seconds_per_map(
                model, dataset.knobs, REFERENCE_STEPS
            )
        metrics["inference_steps"] = float(model.config.num_inference_steps)
        return metrics

    def tune_inference(self, model, dataset: WorldMapSet) -> dict:
        """Sets `model.config`'s sampler steps and guidance scale to the pair of `SAMPLER_STEPS` and
        `GUIDANCE_SCALES` whose maps, sampled for the first `TUNING_REQUESTS` requests of `dataset` (the validation
        split) from the same seeded noise, have the lowest knob error (on a tie, the fewer steps, then the lower
        scale); returns every pair's error. The best scale moves with training: after about 600 steps the
        quick-size teachers were level at 1 and 1.25, after 3,000 steps 1 was best by 4-6% (README, WS3)."""
        requests = dataset.knobs[:TUNING_REQUESTS]
        errors = {}
        for steps in SAMPLER_STEPS:
            for scale in GUIDANCE_SCALES:
                model.config.guidance_scale = scale
                errors[steps, scale] = knob_error(requests, sample_worlds(model, requests, steps=steps))["knob_error"]
        steps, scale = min(errors, key=lambda pair: (errors[pair], *pair))
        model.config.num_inference_steps, model.config.guidance_scale = steps, scale
        return {
            "setting": "num_inference_steps, guidance_scale",
            "metric": "validation knob error",
            "requests": len(requests),
            "candidates": [
                {"num_inference_steps": steps, "guidance_scale": scale, "knob_error": error}
                for (steps, scale), error in errors.items()
            ],
            "chosen_inference_steps": steps,
            "chosen_guidance_scale": scale,
        }

    def gate_baselines(self, dataset: WorldMapSet) -> dict[str, dict[str, float]]:
        """Predicting zero everywhere, measured on `dataset` as validation measures the model."""
        loss = self.denoising_loss(_PredictZero(), dataset, DENOISING_MAPS)
        return {"predict_zero": {"denoising_loss": loss, "denoising_score": -loss}}

    def eval_results(self, metrics: dict) -> list[tuple[str, str, float]]:
        keys = ("knob_error", "diversity", "denoising_loss")
        return [("unconditional-image-generation", key, float(metrics[key])) for key in keys if key in metrics]

    def outputs_finite(self, outputs) -> bool:
        return bool(torch.isfinite(outputs.sample).all())

    def outputs_difference(self, first, second) -> float:
        return float((first.sample - second.sample).abs().max())

    # Publishing ---------------------------------------------------------------------------------------------
    def calibration_inputs(self, model, dataset: WorldMapSet, max_items: int = 64) -> list[dict]:
        """The exported denoiser's inputs (by ONNX name, a batch of one each) on the first maps of `dataset`, each
        noised at a timestep spread over the schedule, every other one unconditional (as a guided batch holds
        them), for static int8 calibration."""
        generator = torch.Generator().manual_seed(4321)
        count = min(max_items, len(dataset))
        timesteps = np.linspace(0, self.config.num_train_timesteps - 1, count).astype(np.int64)
        entries = []
        for index in range(count):
            maps = torch.from_numpy(dataset[index]["maps"][None])
            timestep = torch.tensor([timesteps[index]])
            noisy = self.scheduler.add_noise(maps, torch.randn(maps.shape, generator=generator), timestep)
            entries.append(
                {
                    "sample": noisy.numpy(),
                    "timestep": timestep.numpy(),
                    "knobs": dataset.knobs[index : index + 1].astype(np.float32),
                    "drop_condition": np.array([index % 2 == 1]),
                }
            )
        return entries

    def onnx_model(self, folder: Path, file_name: str):
        """The ONNX file `file_name` of `folder` as a denoiser `evaluate` and `UrukWorldMapPipeline` accept."""
        from ...models.ws3_world_authoring.modeling_ort_ws3_world_authoring import UrukORTWS3WorldAuthoring

        return UrukORTWS3WorldAuthoring.from_pretrained(folder, file_name=file_name)

    def save_extras(self, folder: Path) -> None:
        """The pipeline's sampler config (`scheduler/scheduler_config.json`), made from the training schedule."""
        from diffusers import DPMSolverMultistepScheduler

        DPMSolverMultistepScheduler(**self.config.sampler_kwargs()).save_pretrained(Path(folder) / "scheduler")

    def write_examples(self, model, dataset: WorldMapSet, path: Path, items: int = 3) -> str:
        """Per test request (one row each): the generator's map for it, then `items` sampled maps, each as a top
        view of its materials and a Mitsuba render (`WorldMap.to_scene()`)."""
        from PIL import Image

        from ...data.terrain.scene import render_world
        from ...file_utils import atomic_path

        palette = np.array([[40, 90, 160], [220, 200, 140], [110, 170, 70], [40, 100, 40], [90, 120, 90],
                            [130, 125, 120], [240, 240, 245]], np.uint8)  # fmt: skip
        size, rows = 96, []
        samples = sample_worlds(model, dataset.knobs[:items], items, seed=2)
        for request in range(items):
            tiles = []
            for world in [dataset.world(request), *samples[request * items : (request + 1) * items]]:
                top = palette[world.material] * (0.6 + 0.4 * world.height[..., None])
                top[world.props > 0] *= 0.55
                top = np.asarray(Image.fromarray(top.astype(np.uint8)).resize((size, size), Image.NEAREST))
                tiles.append(np.concatenate([top, render_world(world, size, 32, seed=request)], axis=0))
            rows.append(np.concatenate(tiles, axis=1))
        with atomic_path(path) as temporary:
            Image.fromarray(np.concatenate(rows, axis=0)).save(temporary, format="PNG")
        return (
            "one row per test request: the generator's map, then maps sampled for its knobs; each as a top "
            "view of its materials (water, sand, grass, forest, wetland, rock, snow; props darker) above its Mitsuba "
            "render"
        )

    def card_fields(self) -> dict:
        from ...schema import WORLD_KNOBS, WORLD_MAP_CHANNELS

        return {
            "knobs": ", ".join(WORLD_KNOBS),
            "num_knobs": len(WORLD_KNOBS),
            "channels": ", ".join(WORLD_MAP_CHANNELS),
            "map_size": self.config.map_size,
            "inference_steps": self.config.num_inference_steps,
            "guidance_scale": self.config.guidance_scale,
            "guidance_candidates": ", ".join(f"{scale:g}" for scale in GUIDANCE_SCALES),
            "step_candidates": ", ".join(str(steps) for steps in SAMPLER_STEPS),
            "sampled_requests": SAMPLED_REQUESTS,
            "prediction": self.config.prediction_types[self.config.prediction_type],
            "knob_features": self.config.knob_features,
            "knob_maps": self.config.knob_maps,
            "scale_shift": self.config.resnet_time_scale_shift == "scale_shift",
            "student": self.config.role == "student",
            "circular_padding": self.config.padding_mode == "circular",
        }


class _PredictZero(torch.nn.Module):
    """A denoiser that always predicts zero (the gate's baseline)."""

    def forward(self, sample, timestep, knobs=None):
        from types import SimpleNamespace

        return SimpleNamespace(sample=torch.zeros_like(sample))
