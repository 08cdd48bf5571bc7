"""Distillation through `UrukDistillationTrainer` at the tiny preset: the curriculum's decisions, gates, resume,
and warm starts."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from uruk_hf import (
    UrukV2Optimized,
    UrukV2OptimizedConfig,
    UrukV2Ultra,
    UrukV2UltraConfig,
    UrukWS5CinematicConfig,
    UrukWS5CinematicRenderer,
)
from uruk_hf.catalog import model_entry
from uruk_hf.legacy import save_legacy_checkpoint
from uruk_hf.training.data import UrukClipDataset
from uruk_hf.training.distillation import (
    CurriculumStage,
    UrukDistillationTrainer,
    latest_complete_checkpoint,
    run_distillation,
)
from uruk_hf.training.gates import GateFailure, QualityGate
from uruk_hf.training.losses import DistillationWeights, LossWeights
from uruk_hf.training.progress import DEAD_GRADIENT_STEPS, StageSettings, TrainingDivergedError
from uruk_hf.training.tasks.frame_reconstruction import FrameReconstructionTask, inherit_material_head
from uruk_hf.training.warm_start import WarmStartError, load_initial_weights

SCRIPTS = Path(__file__).parents[2] / "training"


@pytest.fixture
def v2_pair(tiny_dataset):
    folder, _ = tiny_dataset
    torch.manual_seed(0)
    teacher = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", role="teacher"))
    student = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", role="student"))
    task = FrameReconstructionTask(student.config)
    train = UrukClipDataset(folder, "train", student.config.input_buffers)
    validation = UrukClipDataset(folder, "validation", student.config.input_buffers)
    return teacher, student, task, train, validation


def _stage(name, **overrides) -> StageSettings:
    return StageSettings(name, **{"batch_size": 2, "eval_every": 2, "max_steps": 4, "warmup_steps": 1, **overrides})


def test_two_stage_curriculum_keeps_each_stage_best_and_loads_the_global_best(v2_pair, tmp_path):
    teacher, student, task, train, validation = v2_pair
    stages = [
        CurriculumStage(_stage("stage1"), DistillationWeights(teacher_frame=1.0)),
        CurriculumStage(
            _stage("stage2", weights=LossWeights(ms_ssim=0.2, material=0.05)),
            DistillationWeights(teacher_frame=1.0, material_kl=0.5),
        ),
    ]
    record = run_distillation(student, teacher, task, train, validation, stages, tmp_path)
    assert [stage["stage"] for stage in record["stages"]] == ["stage1", "stage2"]
    assert [stage["steps"] for stage in record["stages"]] == [4, 4] and record["steps"] == 8
    assert record["stages"][1]["history"][0]["step"] == 6  # stage 2 continues the Trainer's step count
    best = max(record["stages"], key=lambda stage: stage["best"]["score"])
    assert record["global_best_stage"] == best["stage"]
    expected = UrukV2Ultra.from_pretrained(best["best_folder"]).state_dict()
    assert all(torch.equal(expected[name], value) for name, value in student.state_dict().items())
    for folder in ("stage1_best", "stage2_best", "final"):
        assert (tmp_path / folder / "model.safetensors").is_file()
    assert json.loads((tmp_path / "record.json").read_text())["global_best_stage"] == record["global_best_stage"]
    assert all(
        (path / "checkpoint_complete.json").is_file() for path in (tmp_path / "checkpoints").glob("checkpoint-*")
    )


def test_trainer_loss_uses_the_teacher_only_when_the_stage_asks(v2_pair, tmp_path):
    from uruk_hf.training.distillation import UrukCurriculumCallback, distillation_arguments

    teacher, student, task, train, validation = v2_pair
    batch = task.collate([train[0], train[1]])
    with torch.no_grad():  # an untrained teacher renders exactly what an untrained student does
        teacher.frame_head.projection.bias.add_(torch.randn_like(teacher.frame_head.projection.bias))
    losses = {}
    for name, terms in (("with", DistillationWeights(teacher_frame=1.0)), ("without", DistillationWeights(0.0))):
        stages = [CurriculumStage(_stage("stage1"), terms)]
        trainer = UrukDistillationTrainer(
            model=student,
            teacher=teacher,
            task=task,
            curriculum=UrukCurriculumCallback(stages, task, tmp_path),
            args=distillation_arguments(stages, tmp_path / name, report_to=[]),
            train_dataset=train,
            eval_dataset=validation,
        )
        losses[name] = trainer.compute_loss(student, batch).item()
    assert losses["with"] > losses["without"] > 0
    with pytest.raises(ValueError, match="same input layout"):
        UrukDistillationTrainer(
            model=student,
            teacher=UrukWS5CinematicRenderer(UrukWS5CinematicConfig.from_preset("tiny")),
            task=task,
            curriculum=UrukCurriculumCallback(stages, task, tmp_path),
            args=distillation_arguments(stages, tmp_path / "bad", report_to=[]),
            train_dataset=train,
            eval_dataset=validation,
        )


def test_student_starts_from_the_teachers_material_head_when_the_shapes_allow(v2_pair, tmp_path):
    teacher, student, task, train, validation = v2_pair
    with torch.no_grad():
        for parameter in teacher.material_head.parameters():
            parameter.add_(torch.randn_like(parameter))
    # At the tiny preset the student's head is narrower than the teacher's: nothing is copied.
    before = {name: value.clone() for name, value in student.material_head.state_dict().items()}
    assert not inherit_material_head(student, teacher)
    assert all(torch.equal(before[name], value) for name, value in student.material_head.state_dict().items())
    assert not inherit_material_head(student, UrukWS5CinematicRenderer(UrukWS5CinematicConfig.from_preset("tiny")))

    width = teacher.config.material_head_width
    torch.manual_seed(1)
    wide = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", role="student", material_head_width=width))
    trunk = {name: value.clone() for name, value in wide.state_dict().items() if not name.startswith("material")}
    stages = [CurriculumStage(_stage("stage1", max_steps=2, learning_rate=0.0))]
    record = run_distillation(wide, teacher, task, train, validation, stages, tmp_path)
    assert record["material_head_from_teacher"]
    for name, value in teacher.material_head.state_dict().items():
        torch.testing.assert_close(wide.material_head.state_dict()[name], value, rtol=0, atol=0)
    assert all(torch.equal(trunk[name], wide.state_dict()[name]) for name in trunk)  # only the head is copied
    scratch = run_distillation(student, None, task, train, validation, stages, tmp_path / "scratch")
    assert not scratch["material_head_from_teacher"]


def test_a_gradient_that_stays_zero_stops_distillation_naming_it(v2_pair, tmp_path):
    from .test_training import saturate_frame_head

    _, student, task, train, validation = v2_pair
    saturate_frame_head(student)
    stages = [CurriculumStage(_stage("stage1", max_steps=DEAD_GRADIENT_STEPS + 10, eval_every=100))]
    with pytest.raises(TrainingDivergedError, match="stage1: the gradient has been exactly zero for"):
        run_distillation(student, None, task, train, validation, stages, tmp_path)


def test_curriculum_plateau_lowers_the_learning_rate_then_ends_the_stage(v2_pair, tmp_path):
    teacher, student, task, train, validation = v2_pair
    frozen = _stage("stage1", learning_rate=0.0, max_steps=40, patience=1, max_lr_drops=1, eval_every=1)
    stages = [CurriculumStage(frozen), CurriculumStage(_stage("stage2", max_steps=2))]
    record = run_distillation(student, teacher, task, train, validation, stages, tmp_path)
    first = record["stages"][0]
    assert first["stop_reason"] == "plateau" and first["lr_drops"] == 1 and first["steps"] == 3
    assert record["stages"][1]["steps"] == 2


def test_curriculum_callback_decisions_on_given_scores(tmp_path):
    """Scores 30, 30, 30, 31: improve, drop the LR (x0.5), end stage 1 on its plateau; stage 2 restarts from stage
    1's best weights at its own learning rate, which the next step gets."""
    from types import SimpleNamespace

    from transformers import TrainerControl
    from transformers.optimization import get_constant_schedule

    from uruk_hf.training.distillation import UrukCurriculumCallback

    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny"))
    task = FrameReconstructionTask(model.config)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    scheduler = get_constant_schedule(optimizer)
    constant = {"cosine_annealing": False}  # rates change by the decisions only
    stages = [
        CurriculumStage(
            _stage("stage1", learning_rate=1e-3, patience=1, max_lr_drops=1, lr_drop_factor=0.5, **constant)
        ),
        CurriculumStage(_stage("stage2", learning_rate=4e-4, max_steps=100, **constant)),
    ]
    callback = UrukCurriculumCallback(stages, task, tmp_path)
    state, control = SimpleNamespace(global_step=0, is_world_process_zero=True), TrainerControl()
    rates = []
    for step, psnr in enumerate([30.0, 30.0, 30.0], start=1):
        state.global_step = step
        callback.on_evaluate(None, state, control, {"eval_psnr": psnr}, model=model, lr_scheduler=scheduler)
        callback.on_step_begin(None, state, control, lr_scheduler=scheduler, optimizer=optimizer)
        rates.append(scheduler.base_lrs[0])
    assert rates[:2] == [1e-3, 5e-4] and callback.stage_index == 1 and rates[2] == 4e-4
    assert callback.records[0]["stop_reason"] == "plateau" and not control.should_training_stop
    state.global_step = 4
    callback.on_evaluate(None, state, control, {"eval_psnr": 31.0}, model=model, lr_scheduler=scheduler)
    assert callback.progress.best == 31.0 and (tmp_path / "stage2_best" / "model.safetensors").is_file()


def test_a_failing_gate_stops_distillation_saying_by_how_much(v2_pair, tmp_path):
    teacher, student, task, train, validation = v2_pair
    baselines = {"direct": {"psnr": 20.0}}
    stages = [
        CurriculumStage(_stage("stage1", max_steps=2), gate=QualityGate(margin=50.0)),
        CurriculumStage(_stage("stage2", max_steps=2)),
    ]
    with pytest.raises(GateFailure, match=r"psnr .* below the required 70.00 \(direct 20.00 \+ margin 50.00\)"):
        run_distillation(student, teacher, task, train, validation, stages, tmp_path, baselines=baselines)
    record = json.loads((tmp_path / "record.json").read_text())
    assert [stage["stage"] for stage in record["stages"]] == ["stage1"]
    assert record["stages"][0]["gate"]["passed"] is False


def test_latest_complete_checkpoint_never_returns_an_interrupted_save(tmp_path):
    for step, complete in ((2, True), (4, True), (6, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "checkpoint_complete.json").write_text("{}")
    assert latest_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert not (tmp_path / "checkpoint-6").exists()
    assert latest_complete_checkpoint(tmp_path / "missing") is None


@pytest.mark.slow
def test_kill_during_distillation_then_resume(tmp_path, tiny_dataset):
    folder, _ = tiny_dataset
    teacher = tmp_path / "teacher"
    UrukWS5CinematicRenderer(UrukWS5CinematicConfig.from_preset("tiny", role="teacher")).save_pretrained(teacher)
    output = tmp_path / "student"

    def command(*extra):
        return [
            sys.executable, str(SCRIPTS / "train_ws5.py"), "--data", str(folder), "--output", str(output),
            "--preset", "tiny", "--teacher", str(teacher), "--eval-every", "2", "--batch-size", "2", *extra,
        ]  # fmt: skip

    process = subprocess.Popen(command("--max-steps", "400"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = output / "distillation" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not list(checkpoints.glob("checkpoint-*/checkpoint_complete.json")):
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = latest_complete_checkpoint(checkpoints)
    assert killed_at is not None
    result = subprocess.run(command("--max-steps", "30", "--resume"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((output / "distillation" / "record.json").read_text())
    assert record["resumed_from_step"] >= int(killed_at.name.split("-")[1]) >= 2
    assert record["steps"] >= max(30, record["resumed_from_step"])
    assert (output / "model" / "model.safetensors").is_file()


def test_warm_start_loads_compatible_weights_and_names_every_mismatch(tmp_path, caplog):
    source = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", role="student"))
    source.save_pretrained(tmp_path / "v2_ultra")
    target = UrukV2Optimized(UrukV2OptimizedConfig.from_preset("tiny"))
    report = load_initial_weights(target, tmp_path / "v2_ultra")
    assert report["loaded"] == len(target.state_dict()) and not report["missing"] and not report["unexpected"]
    assert all(torch.equal(source.state_dict()[name], value) for name, value in target.state_dict().items())

    partial = {name: value for name, value in source.state_dict().items() if not name.startswith("material_head")}
    partial["extra.weight"] = torch.zeros(1)
    save_legacy_checkpoint(tmp_path / "partial.pt", partial, source.config.to_dict())
    report = load_initial_weights(target, tmp_path / "partial.pt")
    assert report["missing"] and all(name.startswith("material_head") for name in report["missing"])
    assert report["unexpected"] == ["extra.weight"] and "missing (kept initialized)" in caplog.text

    UrukWS5CinematicRenderer(UrukWS5CinematicConfig.from_preset("tiny")).save_pretrained(tmp_path / "ws5")
    with pytest.raises(WarmStartError, match="shapes differ for: "):
        load_initial_weights(target, tmp_path / "ws5")
    with pytest.raises(FileNotFoundError):
        load_initial_weights(target, tmp_path / "nothing")

    # The ray-reconstruction model: the V2-Ultra student's layout with another cheap render and a wider filter.
    entry = model_entry("v2_ultra_ray_reconstruction")[1]
    ray_reconstruction = entry.model_class(entry.config("tiny"))
    initial = ray_reconstruction.frame_head.projection.weight.clone()
    with pytest.raises(WarmStartError, match="frame_head.projection.weight: source"):
        load_initial_weights(ray_reconstruction, tmp_path / "v2_ultra")
    report = load_initial_weights(ray_reconstruction, tmp_path / "v2_ultra", reinitialize=("frame_head.projection",))
    assert sorted(report["reinitialized"]) == ["frame_head.projection.bias", "frame_head.projection.weight"]
    assert not report["missing"] and report["loaded"] == len(source.state_dict()) - 2
    assert torch.equal(ray_reconstruction.frame_head.projection.weight, initial)
    assert torch.equal(ray_reconstruction.unet.stem.weight, source.unet.stem.weight)


def test_teacher_outputs_are_computed_once_per_clip_and_match_a_fresh_unroll(v2_pair, tmp_path):
    from uruk_hf.training.unroll import unroll_clip

    teacher, _, task, train, _ = v2_pair
    teacher.eval()
    calls = []
    teacher.register_forward_hook(lambda *_: calls.append(1))
    collator = task.collator
    first = task.teacher_outputs(teacher, collator([train[0], train[1]]))
    frames = len(first)
    assert len(calls) == frames  # one unroll of the two clips
    mixed = collator([train[1], train[2]])
    outputs = task.teacher_outputs(teacher, mixed)
    assert len(calls) == 2 * frames  # only clip 2 was new
    with torch.no_grad():
        expected = unroll_clip(teacher, mixed, task.processor)
    for cached, fresh in zip(outputs, expected):
        torch.testing.assert_close(cached.frame, fresh.frame)
        torch.testing.assert_close(cached.material_logits, fresh.material_logits)
