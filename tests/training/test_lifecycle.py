"""Smoke: passes a healthy model, and names the check that fails for each planted bug."""

import pytest
import torch

from uruk_hf import UrukV2Ultra, UrukV2UltraConfig
from uruk_hf.training.data import UrukClipDataset
from uruk_hf.training.lifecycle import SmokeFailure, SmokeSettings, run_smoke
from uruk_hf.training.losses import LossWeights
from uruk_hf.training.tasks.frame_reconstruction import FrameReconstructionTask

WEIGHTS = LossWeights(material=0.05)


@pytest.fixture
def setup(tiny_dataset):
    folder, _ = tiny_dataset
    torch.manual_seed(0)
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny"))
    task = FrameReconstructionTask(model.config)
    dataset = UrukClipDataset(folder, "train", model.config.input_buffers, max_clips=2)
    return model, task, dataset, WEIGHTS


def test_smoke_passes_a_healthy_model_without_training_it(setup, tmp_path):
    model, task, dataset, weights = setup
    before = {name: value.clone() for name, value in model.state_dict().items()}
    record = run_smoke(model, task, dataset, weights, output_dir=tmp_path)
    assert record["passed"] and record["measured"]["loss_drop"] >= 0.1
    assert record["measured"]["round_trip_max_difference"] == 0.0 and (tmp_path / "record.json").is_file()
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())


def test_smoke_stops_once_the_loss_has_fallen_far_enough(setup):
    model, task, dataset, weights = setup
    record = run_smoke(model, task, dataset, weights, SmokeSettings(steps=200, early_pass_drop=0.15))
    measured = record["measured"]
    assert 15 <= measured["steps"] < 200 and len(record["loss_history"]) == measured["steps"]
    assert measured["loss_drop"] >= 0.15
    full = run_smoke(model, task, dataset, weights, SmokeSettings(steps=30, early_pass_drop=None))
    assert full["measured"]["steps"] == 30


def test_smoke_catches_an_injected_nan(setup):
    model, task, dataset, weights = setup
    with torch.no_grad():
        model.unet.stem.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(SmokeFailure, match="'non_finite_output' failed"):
        run_smoke(model, task, dataset, weights)


def test_smoke_catches_a_loss_that_becomes_nan(setup):
    model, _, dataset, weights = setup

    class ExplodingTask(FrameReconstructionTask):
        def loss(self, outputs, batch, weights):
            return super().loss(outputs, batch, weights) * float("inf")

    with pytest.raises(SmokeFailure, match="'non_finite_loss' failed: loss is (inf|nan) at step 1"):
        run_smoke(model, ExplodingTask(model.config), dataset, weights)


def test_smoke_catches_a_loss_that_does_not_fall(setup):
    model, task, dataset, weights = setup
    with pytest.raises(SmokeFailure, match="'loss_not_falling' failed: .* lowered the loss by 0.0%") as failure:
        run_smoke(model, task, dataset, weights, SmokeSettings(learning_rate=0.0, steps=12))
    assert failure.value.measured["loss_drop"] == 0.0


def test_smoke_catches_a_broken_round_trip(setup, monkeypatch):
    model, task, dataset, weights = setup

    def reinitialized(cls, folder, **kwargs):
        torch.manual_seed(123)
        broken = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny"))
        with torch.no_grad():
            for parameter in broken.parameters():
                parameter.add_(0.01)
        return broken

    monkeypatch.setattr(UrukV2Ultra, "from_pretrained", classmethod(reinitialized))
    with pytest.raises(SmokeFailure, match="'save_load_mismatch' failed"):
        run_smoke(model, task, dataset, weights, SmokeSettings(steps=12, min_loss_drop=0.0))


def test_quality_gate_passes_and_fails_by_a_named_amount():
    from uruk_hf.training.gates import GateFailure, QualityGate

    gate = QualityGate(metric="psnr", baseline="direct", margin=3.0)
    baselines = {"direct": {"psnr": 26.0}}
    assert gate.check({"psnr": 29.5}, baselines)["passed"]
    with pytest.raises(GateFailure, match=r"psnr 27\.10 is 1\.90 below the required 29\.00 \(direct 26\.00 \+ margin"):
        gate.check({"psnr": 27.1}, baselines)


def test_buffer_baseline_scores_the_raw_buffer_against_ground_truth(setup):
    from uruk_hf.metrics import frame_metrics
    from uruk_hf.training.tasks.frame_reconstruction import buffer_baseline

    _, _, dataset, _ = setup
    rows = [row for clip in dataset.clips for row in clip]
    direct = torch.from_numpy(dataset.arrays["direct"][rows].astype("float32")).permute(0, 3, 1, 2)
    truth = torch.from_numpy(dataset.arrays["ground_truth"][rows].astype("float32")).permute(0, 3, 1, 2)
    config = UrukV2UltraConfig.from_preset("tiny")
    assert buffer_baseline(dataset, config) == pytest.approx(frame_metrics(direct, truth, flip=False))


def test_calibration_keeps_the_learning_rate_with_the_best_validation_score(tiny_dataset, tmp_path):
    import json

    from uruk_hf.training.lifecycle import run_calibration
    from uruk_hf.training.progress import StageSettings

    folder, _ = tiny_dataset
    config = UrukV2UltraConfig.from_preset("tiny")
    task = FrameReconstructionTask(config)
    train = UrukClipDataset(folder, "train", config.input_buffers)
    validation = UrukClipDataset(folder, "validation", config.input_buffers)
    settings = StageSettings(name="calibration", max_steps=3, eval_every=3, batch_size=2, warmup_steps=1)
    record = run_calibration(lambda: UrukV2Ultra(config), task, train, validation, settings, [0.0, 1e-2], tmp_path)
    scores = {candidate["learning_rate"]: candidate["score"] for candidate in record["candidates"]}
    assert set(scores) == {0.0, 1e-2} and scores[0.0] != scores[1e-2]
    assert record["chosen_learning_rate"] == max(scores, key=scores.get)
    assert json.loads((tmp_path / "record.json").read_text())["chosen_learning_rate"] == record["chosen_learning_rate"]
    assert (tmp_path / "calibration_lr0.01" / "record.json").is_file()


@pytest.mark.slow
def test_uruk_train_ws5_runs_the_lifecycle_and_writes_records(tiny_dataset, tmp_path, capsys):
    import json

    from uruk_hf.cli import main

    folder, _ = tiny_dataset
    assert main(["train", "ws5", "--data", str(folder), "--output", str(tmp_path), "--preset", "tiny"]) == 0
    assert "smoke passed; calibration chose lr" in capsys.readouterr().out
    record = json.loads((tmp_path / "lifecycle.json").read_text())
    assert list(record["stages"]) == ["smoke", "calibration", "production", "smoke_student", "distillation"]
    assert record["stages"]["production"]["gate"]["passed"] and record["command"] and record["seconds"] > 0
    assert record["stages"]["distillation"]["stages"][0]["gate"]["passed"]
    for stage in ("smoke", "calibration", "production", "distillation"):
        assert (tmp_path / stage / "record.json").is_file()
    for model in ("ws5_cinematic_renderer", "ws5_student"):
        assert (tmp_path / "models" / model / "model.safetensors").is_file()
    for legacy in ("workstreams/ws5_cinematic_renderer/ws5_frontier_best.pt", "distillation/ws5_student_best.pt",
                   "distillation/ws5_student_final.pt"):  # fmt: skip
        assert (tmp_path / "legacy" / legacy).is_file()


def test_a_diverged_production_starts_again_from_the_next_lower_calibrated_rate(tiny_dataset, tmp_path, monkeypatch):
    import json

    from uruk_hf.catalog import get_family
    from uruk_hf.training.losses import FRAME_LOSS
    from uruk_hf.training.progress import TrainingDivergedError
    from uruk_hf.training.run import Lifecycle
    from uruk_hf.training.stage import _AccelerateStage

    folder, _ = tiny_dataset
    calibrate, train_step = Lifecycle.calibrate, _AccelerateStage.train_step

    def calibrate_choosing_the_higher_rate(self, *args):  # every candidate is trained; 5e-3 is chosen
        calibrate(self, *args)
        return 5e-3

    monkeypatch.setattr(Lifecycle, "calibrate", calibrate_choosing_the_higher_rate)
    diverging = {5e-3}

    def train_step_diverging(stage, batch):  # a NaN loss at the third step of Production at a diverging rate
        if (
            stage.settings.name == "production"
            and stage.settings.learning_rate in diverging
            and stage.progress.step == 2
        ):
            raise TrainingDivergedError("production: loss is nan at step 3.")
        return train_step(stage, batch)

    monkeypatch.setattr(_AccelerateStage, "train_step", train_step_diverging)
    family, key = get_family("ws5"), "ws5_cinematic_renderer"
    lifecycle = Lifecycle(family, folder, tmp_path / "run", "tiny", resume=False)
    _, record, learning_rate = lifecycle.train_model(key, FRAME_LOSS)
    assert learning_rate == 1e-3 and record["settings"]["learning_rate"] == 1e-3 and record["gate"]["passed"]
    set_aside = tmp_path / "run" / "production_diverged_lr0.005"
    expected = {"stage": "production", "learning_rate": 5e-3, "error": "production: loss is nan at step 3."}
    assert json.loads((set_aside / "diverged.json").read_text()) == expected
    assert lifecycle.stages["production_diverged_lr0.005"] == expected
    assert (set_aside / "checkpoint").is_dir() and (tmp_path / "run" / "models" / key / "config.json").is_file()

    resumed = Lifecycle(family, folder, tmp_path / "run", "tiny", resume=True)  # skips the rate set aside
    _, again, learning_rate = resumed.train_model(key, FRAME_LOSS)
    assert (
        learning_rate == 1e-3 and again["best"] == record["best"] and "production_diverged_lr0.005" in resumed.stages
    )

    diverging.add(1e-3)  # no lower rate left: the error is raised
    with pytest.raises(TrainingDivergedError, match="loss is nan at step 3"):
        Lifecycle(family, folder, tmp_path / "again", "tiny", resume=False).train_model(key, FRAME_LOSS)
    assert (tmp_path / "again" / "production_diverged_lr0.005" / "diverged.json").is_file()


@pytest.mark.slow
def test_uruk_train_v2_families_write_the_seed_checkpoints(tiny_dataset, tmp_path, capsys):
    """V2-Ultra: teacher, then the student's two stages with the seed's .pt files (loaded literally as the seed's
    snippet does); V2-Optimized warm-starts from the student's stage-1 weights and runs its two stages."""
    import json

    from uruk_hf.cli import main

    folder, _ = tiny_dataset
    v2 = tmp_path / "v2_ultra"
    assert main(["train", "v2_ultra", "--data", str(folder), "--output", str(v2), "--preset", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "distillation/stage1" in out and "distillation/stage2" in out
    for name in ("v2_ultra_best_stage1.pt", "v2_ultra_best_stage2.pt", "v2_ultra_global_best.pt"):
        checkpoint = torch.load(v2 / "legacy" / "v2_ultra" / name, map_location="cpu", weights_only=True)
        model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", role="student"))
        model.load_state_dict(checkpoint["model_state_dict"])
        assert ("optimizer_state_dict" in checkpoint) == ("stage" in name)  # stage checkpoints can resume
    record = json.loads((v2 / "lifecycle.json").read_text())
    assert [stage["stage"] for stage in record["stages"]["distillation"]["stages"]] == ["stage1", "stage2"]
    assert (v2 / "models" / "v2_ultra_teacher" / "config.json").is_file()

    optimized = tmp_path / "v2_optimized"
    arguments = ["--data", str(folder), "--output", str(optimized), "--preset", "tiny"]
    with pytest.raises(SystemExit):
        main(["train", "v2_optimized", *arguments])
    assert "initializes from earlier weights" in capsys.readouterr().err
    init = v2 / "distillation" / "stage1_best"
    assert main(["train", "v2_optimized", *arguments, "--init-from", str(init)]) == 0
    record = json.loads((optimized / "lifecycle.json").read_text())
    assert record["stages"]["warm_start"]["loaded"] > 0 and not record["stages"]["warm_start"]["missing"]
    assert record["stages"]["material"]["gate"]["baseline"] == "previous"
    assert (optimized / "legacy" / "v2_optimized" / "v2opt_global_best.pt").is_file()

    # The ray-reconstruction model warm-starts from the student at a given rate: no Calibration, a fresh filter.
    ray_reconstruction = tmp_path / "v2_ultra_rr"
    rr_arguments = ["--data", str(folder), "--output", str(ray_reconstruction), "--preset", "tiny"]
    with pytest.raises(SystemExit):
        main(["train", "v2_ultra_rr", *rr_arguments])
    assert "initializes from a V2-Ultra student" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(
            [
                "train",
                "v2_ultra_rr",
                *rr_arguments,
                "--init-from",
                str(v2 / "models" / "v2_ultra"),
                "--learning-rate",
                "0",
            ]
        )
    assert "--learning-rate must be a positive number, got '0'" in capsys.readouterr().err
    student = v2 / "models" / "v2_ultra"
    assert main(["train", "v2_ultra_rr", *rr_arguments, "--init-from", str(student), "--learning-rate", "2e-3"]) == 0
    assert "smoke passed; trained at lr 0.002" in capsys.readouterr().out
    record = json.loads((ray_reconstruction / "lifecycle.json").read_text())
    assert "calibration" not in record["stages"] and record["learning_rate"] == 2e-3
    assert sorted(record["stages"]["warm_start"]["reinitialized"]) == [
        "frame_head.projection.bias",
        "frame_head.projection.weight",
    ]
    assert (ray_reconstruction / "models" / "v2_ultra_ray_reconstruction" / "model.safetensors").is_file()

    # --resume reads finished stages back instead of training them again.
    before = (optimized / "material" / "record.json").stat().st_mtime_ns
    assert main(["train", "v2_optimized", *arguments, "--init-from", str(init), "--resume"]) == 0
    assert (optimized / "material" / "record.json").stat().st_mtime_ns == before

    # --gan adds the seed's optional third stage: adversarial, gated against the material stage.
    adversarial = tmp_path / "v2_optimized_gan"
    gan_arguments = ["--data", str(folder), "--output", str(adversarial), "--preset", "tiny", "--init-from", str(init)]
    assert main(["train", "v2_optimized", *gan_arguments, "--gan"]) == 0
    record = json.loads((adversarial / "lifecycle.json").read_text())
    assert record["gan"] and record["stages"]["adversarial"]["settings"]["weights"]["adversarial"] > 0
    assert record["stages"]["adversarial"]["gate"]["baseline"] == "previous"
    assert not json.loads((optimized / "lifecycle.json").read_text())["gan"]


@pytest.mark.slow
def test_uruk_train_stops_at_a_failing_gate_saying_by_how_much(tiny_dataset, tmp_path, capsys, monkeypatch):
    from dataclasses import replace

    from uruk_hf.cli import main
    from uruk_hf.training import run

    folder, _ = tiny_dataset
    strict = replace(run.LIFECYCLE_PRESETS["tiny"], gate_margin=50.0)
    monkeypatch.setitem(run.LIFECYCLE_PRESETS, "tiny", strict)
    assert main(["train", "ws5", "--data", str(folder), "--output", str(tmp_path), "--preset", "tiny"]) == 1
    assert "Quality gate failed: psnr" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()
    with pytest.raises(SystemExit):
        main(["train", "ws9", "--data", str(folder), "--output", str(tmp_path), "--preset", "tiny"])
    assert "invalid choice: 'ws9'" in capsys.readouterr().err


@pytest.mark.slow
def test_uruk_pipeline_writes_the_results_table(tiny_dataset, tmp_path, capsys):
    import json

    from uruk_hf.catalog import iter_models
    from uruk_hf.cli import main
    from uruk_hf.data.rendering.generator import GBUFFER_CLIPS

    model_keys = [model.key for _, model in iter_models()]
    baseline_keys = list(GBUFFER_CLIPS.report_baselines)

    folder, _ = tiny_dataset
    arguments = ["--preset", "tiny", "--data", str(folder), "--output", str(tmp_path), "--no-publish"]
    assert main(["pipeline", *arguments]) == 0
    out = capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results) >= {"models", "baselines", "test_sets", "split", "frames"} and results["split"] == "test"
    assert list(results["models"]) == model_keys and list(results["baselines"]["gbuffer_clips"]) == baseline_keys
    assert results["test_sets"]["npc_episodes"]["unit"] == "ticks"
    renderers = [model.key for family, model in iter_models() if family.dataset_kind == "gbuffer_clips"]
    for key in ("params", "psnr", "ssim", "ms_ssim", "flip", "ms_per_frame"):
        assert all(key in results["models"][name] for name in renderers)
    assert results["models"]["npc_director"]["transition_accuracy"] >= 0.0
    assert "material_miou" in results["models"]["v2_ultra"] and "temporal_error" in results["models"]["v2_ultra"]
    assert results["models"]["v2_ultra"]["params"] < results["models"]["v2_ultra_teacher"]["params"]
    scratch = json.loads((tmp_path / "v2_ultra_scratch" / "scratch" / "record.json").read_text())
    assert scratch["teacher"] is None
    for key in (*model_keys, *baseline_keys):
        assert key in out


def test_a_later_stage_may_lose_what_its_recipe_allows_except_under_tiny(tiny_dataset, tmp_path):
    """V2-Optimized's material and adversarial stages may cost the frame at most 1 dB of the stage before; the tiny
    preset (a few steps, to test the plumbing) judges nothing, as its default gates do not."""
    from uruk_hf.catalog import get_family
    from uruk_hf.models.v2_optimized.recipe_v2_optimized import V2_OPTIMIZED_LATER_STAGE_LOSS
    from uruk_hf.training.run import Lifecycle

    folder, _ = tiny_dataset
    family = get_family("v2_optimized")
    for preset, margin in (("quick", -V2_OPTIMIZED_LATER_STAGE_LOSS), ("tiny", -100.0)):
        gate = Lifecycle(family, folder, tmp_path / preset, preset, False).previous_stage_gate(
            V2_OPTIMIZED_LATER_STAGE_LOSS
        )
        assert (gate.metric, gate.baseline, gate.margin) == ("psnr", "previous", margin)
