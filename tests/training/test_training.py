"""Training at the tiny preset: the unroll never feeds ground truth, and the stage loop's decisions."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator

from uruk_hf import (
    UrukGBufferProcessor,
    UrukV2Ultra,
    UrukV2UltraConfig,
    UrukWS5CinematicRenderer,
)
from uruk_hf.reprojection import warp_previous_frame
from uruk_hf.tonemap import tonemap
from uruk_hf.training.data import UrukClipCollator, UrukClipDataset
from uruk_hf.training.losses import (
    FRAME_AND_MATERIAL_LOSS,
    FRAME_LOSS,
    DistillationWeights,
    LossWeights,
    distillation_loss,
    frame_loss,
    renderer_loss,
    teacher_bounded_l1,
)
from uruk_hf.training.progress import (
    DEAD_GRADIENT_STEPS,
    StageSettings,
    TrainingDivergedError,
    annealing_factor,
    group_learning_rate,
)
from uruk_hf.training.stage import train_stage
from uruk_hf.training.tasks.frame_reconstruction import FrameReconstructionTask
from uruk_hf.training.unroll import unroll_clip

from ..accelerate_launch import TWO_CPU_PROCESSES

SCRIPTS = Path(__file__).parents[2] / "training"
TRAIN_SCRIPT = SCRIPTS / "train_ws5.py"


def _train_command(folder, output, *arguments, script=TRAIN_SCRIPT) -> list[str]:
    """`python <script> --data folder --output output --preset tiny <arguments>`."""
    return [
        sys.executable,
        str(script),
        "--data",
        str(folder),
        "--output",
        str(output),
        "--preset",
        "tiny",
        *arguments,
    ]


@pytest.fixture
def v2(tiny_dataset):
    folder, _ = tiny_dataset
    torch.manual_seed(0)
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny")).eval()
    processor = UrukGBufferProcessor.from_model_config(model.config)
    return folder, model, processor, UrukClipDataset(folder, "train", model.config.input_buffers)


def test_no_ground_truth_array_feeds_an_input(v2):
    """Poisoning every ground-truth array changes nothing the model sees or predicts."""
    _, model, processor, dataset = v2
    collator = UrukClipCollator(processor)
    clips = [dataset[0], dataset[1]]
    poisoned = [{**clip, "ground_truth": np.full_like(clip["ground_truth"], np.nan)} for clip in clips]
    clean_batch, poisoned_batch = collator(clips), collator(poisoned)
    assert torch.equal(clean_batch["pixel_values"], poisoned_batch["pixel_values"])
    with torch.no_grad():
        clean = unroll_clip(model, clean_batch, processor)
        dirty = unroll_clip(model, poisoned_batch, processor)
    for a, b in zip(clean, dirty):
        assert torch.equal(a.frame, b.frame) and torch.isfinite(b.frame).all()
    with pytest.raises(ValueError, match="unexpected \\['ground_truth'\\]"):
        processor(
            {**{name: clips[0][name][0] for name in collator.input_names}, "ground_truth": clips[0]["ground_truth"][0]}
        )


def test_history_is_the_models_own_warped_previous_output(v2):
    _, model, processor, dataset = v2
    batch = UrukClipCollator(processor)([dataset[0]])
    seen = []
    original_forward = model.forward

    def spy(pixel_values, **kwargs):
        seen.append(pixel_values.clone())
        return original_forward(pixel_values, **kwargs)

    model.forward = spy
    with torch.no_grad():
        outputs = unroll_clip(model, batch, processor)
    history = model.config.buffer_slice("history")
    assert not seen[0][:, history].any()
    expected = warp_previous_frame(outputs[0].frame, batch["motion"][:, 1]) * batch["history_valid"][:, 1]
    torch.testing.assert_close(seen[1][:, history], torch.log1p(expected))
    # The model sees where its history holds, as an engine passing history_valid would show it (the collator packs
    # zeros there; before the unroll filled it, every trained model saw history_valid = 0 on every frame).
    history_valid = model.config.buffer_slice("history_valid")
    assert not seen[0][:, history_valid].any()
    assert batch["history_valid"][:, 1].mean() > 0.5
    torch.testing.assert_close(seen[1][:, history_valid], batch["history_valid"][:, 1])


def test_distillation_loss_is_zero_only_for_a_perfect_copy(v2):
    _, model, processor, dataset = v2
    batch = UrukClipCollator(processor)([dataset[0]])
    with torch.no_grad():
        teacher = unroll_clip(model, batch, processor)
    student = unroll_clip(model, batch, processor)
    weights = LossWeights(material=1.0)
    copy = distillation_loss(student, teacher, batch, weights, teacher_weight=1.0, kl_weight=1.0)
    torch.testing.assert_close(copy, renderer_loss(student, batch, weights))
    other = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny"))
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    different = distillation_loss(unroll_clip(other, batch, processor), teacher, batch, weights)
    assert different > renderer_loss(unroll_clip(other, batch, processor), batch, weights)
    different.backward()
    assert all(p.grad is not None for p in other.parameters())


def test_adversarial_term_and_the_discriminator_step(v2):
    """An adversarial weight adds the generator's hinge term and the task trains its patch discriminator on the
    detached frames; without it, no discriminator exists and the loss is the renderer loss."""
    _, model, _, dataset = v2
    task = FrameReconstructionTask(model.config)
    batch = task.collate([dataset[0], dataset[1]])
    outputs = task.forward(model, batch)
    plain = LossWeights(ms_ssim=0.2)
    assert task.loss(outputs, batch, plain) == renderer_loss(outputs, batch, plain)
    assert task.auxiliary_step(outputs, batch, plain) == {} and task.discriminator is None
    adversarial = replace(plain, adversarial=0.5)
    loss = task.loss(outputs, batch, adversarial)
    assert not torch.isclose(loss, renderer_loss(outputs, batch, plain))
    loss.backward()  # the model's step comes first (as in both loops), then the discriminator's
    assert all(parameter.grad is not None for parameter in model.unet.parameters())
    before = [parameter.detach().clone() for parameter in task.discriminator.parameters()]
    logged = task.auxiliary_step(outputs, batch, adversarial)
    assert math.isfinite(logged["discriminator_loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, task.discriminator.parameters()))
    with pytest.raises(ValueError, match="no adversarial term"):
        task.distillation_loss(outputs, outputs, batch, adversarial, DistillationWeights())


def test_teacher_term_counts_only_where_the_teacher_is_closer():
    target = torch.ones(1, 3, 2, 2)
    teacher, student = target.clone(), target.clone()
    teacher[..., 0, 0] = 3.0  # the teacher is wrong here, the student right: nothing pulls the student
    student[..., 1, 1] = 2.0  # the student is wrong here, the teacher right: L1 towards the teacher
    expected = (tonemap(torch.tensor(2.0)) - tonemap(torch.tensor(1.0))).abs() * 3 / 12
    student.requires_grad_(True)
    loss = teacher_bounded_l1(student, teacher, target)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert student.grad[..., 0, 0].abs().sum() == 0 and student.grad[..., 1, 1].abs().sum() > 0
    assert teacher_bounded_l1(teacher, teacher, target) == 0


def test_log_mse_term_is_the_mean_over_frames_of_each_frames_log_error():
    """`log_mse` averages `log(1 + MSE / 1e-4)` per frame, not the log of the batch's MSE: each frame's gradient is
    divided by its own error, so a frame 10x cleaner pulls as hard as a noisy one (as in mean PSNR)."""
    target = torch.full((2, 3, 4, 4), 0.5)
    prediction = target.clone()
    prediction[0] += 0.1
    prediction[1] += 0.01
    errors = [(tonemap(frame) - tonemap(truth)).square().mean() for frame, truth in zip(prediction, target)]
    expected = torch.stack([torch.log1p(error / 1e-4) for error in errors]).mean()
    weights = LossWeights(l1=0.0, log_mse=1.0)
    prediction.requires_grad_(True)
    loss = frame_loss(prediction, target, weights)
    torch.testing.assert_close(loss, expected)
    assert not torch.isclose(loss, torch.log1p(torch.stack(errors).mean() / 1e-4))
    loss.backward()
    # Plain MSE would pull the first frame about 10x harder (its error is 10x the second's); the per-frame log,
    # softened for frames better than 40 dB (MSE below 1e-4, where the second frame lies), pulls both about equally.
    pull = prediction.grad.flatten(1).abs().sum(dim=1)
    assert 0.5 < float(pull[0] / pull[1]) < 2.0
    plain = LossWeights(l1=1.0)
    torch.testing.assert_close(
        frame_loss(prediction, target, replace(plain, log_mse=0.5)),
        frame_loss(prediction, target, plain) + 0.5 * expected,
    )


def _stage(tmp_path, tiny_dataset, model_class=UrukWS5CinematicRenderer, **overrides):
    """A tiny `model_class` and a function running one stage of it (settings: test defaults plus `overrides`)."""
    folder, _ = tiny_dataset
    torch.manual_seed(0)
    config = model_class.config_class.from_preset("tiny")
    model = model_class(config)
    task = FrameReconstructionTask(config)
    train = UrukClipDataset(folder, "train", config.input_buffers)
    validation = UrukClipDataset(folder, "validation", config.input_buffers)
    settings = StageSettings(**{"name": "test", "batch_size": 2, "eval_every": 1, "warmup_steps": 1, **overrides})
    return model, lambda resume=False: train_stage(
        Accelerator(cpu=True), model, task, train, validation, settings, tmp_path, resume=resume
    )


def test_plateau_lowers_the_learning_rate_then_stops(tmp_path, tiny_dataset):
    _, run = _stage(tmp_path, tiny_dataset, learning_rate=0.0, max_steps=50, patience=1, max_lr_drops=1)
    record = run()
    assert record["stop_reason"] == "plateau" and record["lr_drops"] == 1 and record["steps"] == 3
    assert [entry["step"] for entry in record["history"]] == [1, 2, 3]
    assert json.loads((tmp_path / "record.json").read_text())["stop_reason"] == "plateau"
    assert (tmp_path / "best" / "model.safetensors").is_file()


def test_cosine_annealing_and_the_material_head_rate(tmp_path, tiny_dataset):
    settings = StageSettings("s", max_steps=100, cosine_annealing=True)
    assert annealing_factor(settings, 0, 0.0) == 1.0
    assert annealing_factor(settings, 50, 0.0) == pytest.approx(0.5)
    assert annealing_factor(replace(settings, time_budget_s=10.0), 10, 7.5) == pytest.approx(
        0.5 * (1 + math.cos(0.75 * math.pi))
    )
    assert annealing_factor(replace(settings, cosine_annealing=False), 99, 1e9) == 1.0
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny"))
    trunk, head = FrameReconstructionTask(model.config, material_head_lr_scale=3.0).parameter_groups(model)
    assert trunk["lr_scale"] == 1.0 and head["lr_scale"] == 3.0
    assert {id(p) for p in head["params"]} == {id(p) for p in model.material_head.parameters()}
    assert len(trunk["params"]) + len(head["params"]) == len(list(model.parameters()))
    assert group_learning_rate(head, 1e-3) == pytest.approx(3e-3)
    assert group_learning_rate(trunk, 1e-3) == 1e-3

    _, run = _stage(tmp_path, tiny_dataset, learning_rate=1e-3, max_steps=4, patience=10, cosine_annealing=True)
    rates = [entry["lr"] for entry in run()["history"]]
    assert rates[0] == pytest.approx(1e-3) and rates == sorted(rates, reverse=True) and rates[-1] < 0.2e-3


def test_material_head_is_picked_at_its_own_best_mIoU(tmp_path, tiny_dataset):
    """In a stage that trains materials, the frame's checkpoint is the best PSNR and the material head's the best
    mIoU; the saved best model is exactly their composition, and its record says so."""
    folder, _ = tiny_dataset
    model, run = _stage(
        tmp_path, tiny_dataset, UrukV2Ultra, name="materials", learning_rate=3e-3, max_steps=8, patience=20,
        weights=FRAME_AND_MATERIAL_LOSS,
    )  # fmt: skip
    task = FrameReconstructionTask(model.config)
    validation = UrukClipDataset(folder, "validation", model.config.input_buffers)
    assert task.separate_heads(model, FRAME_LOSS) == {} and "material_head" in task.separate_heads(
        model, FRAME_AND_MATERIAL_LOSS
    )
    record = run()
    history = record["history"]
    frame_best = max(history, key=lambda entry: entry["psnr"])
    material_best = max(history, key=lambda entry: entry["material_miou"])
    assert (
        record["best_step"] == frame_best["step"]
        and record["head_best"]["material_head"]["step"] == material_best["step"]
    )
    assert (
        record["best"]["psnr"] == frame_best["psnr"]
        and record["best"]["material_miou"] == material_best["material_miou"]
    )
    assert record["best"]["score"] == pytest.approx(task.selection_score(record["best"], FRAME_AND_MATERIAL_LOSS))
    saved = UrukV2Ultra.from_pretrained(tmp_path / "best").eval()
    metrics = task.evaluate(saved, validation)
    assert metrics["psnr"] == pytest.approx(frame_best["psnr"], abs=1e-4)
    assert metrics["material_miou"] == pytest.approx(material_best["material_miou"], abs=1e-6)
    assert (tmp_path / "best" / "optimizer.pt").is_file()


def test_nan_loss_stops_with_the_step(tmp_path, tiny_dataset):
    model, run = _stage(tmp_path, tiny_dataset, max_steps=5)
    with torch.no_grad():
        model.frame_head.projection.bias.fill_(float("nan"))
    with pytest.raises(TrainingDivergedError, match="loss is nan at step 1"):
        run()


def saturate_frame_head(model) -> None:
    """The state an exploded trunk leaves the frame head in: one filter tap and the shading logits so far out that
    softmax and softplus pass no gradient at all (exactly 0 in float32)."""
    taps = model.frame_head.kernel_size**2
    with torch.no_grad():
        model.frame_head.projection.weight.zero_()
        model.frame_head.projection.bias[:taps] = 0.0
        model.frame_head.projection.bias[taps // 2] = 1e4
        model.frame_head.projection.bias[taps:] = -1e4


def test_a_gradient_that_stays_zero_stops_the_stage_naming_it(tmp_path, tiny_dataset):
    model, run = _stage(tmp_path, tiny_dataset, max_steps=DEAD_GRADIENT_STEPS + 10, eval_every=100)
    saturate_frame_head(model)
    with pytest.raises(TrainingDivergedError, match=f"exactly zero for {DEAD_GRADIENT_STEPS} steps"):
        run()


def test_resume_continues_from_the_last_checkpoint(tmp_path, tiny_dataset):
    _, run = _stage(tmp_path, tiny_dataset, max_steps=2, patience=10)
    assert run()["steps"] == 2
    (tmp_path / "checkpoint.partial").mkdir()  # an interrupted save is never loaded
    _, rerun = _stage(tmp_path, tiny_dataset, max_steps=4, patience=10)
    record = rerun(resume=True)
    assert record["resumed_from_step"] == 2 and record["steps"] == 4
    assert [entry["step"] for entry in record["history"]] == [1, 2, 3, 4]


@pytest.mark.slow
def test_kill_during_training_then_resume(tmp_path, tiny_dataset):
    folder, _ = tiny_dataset
    command = _train_command(folder, tmp_path, "--max-steps", "400", "--eval-every", "2", "--batch-size", "2")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and not (tmp_path / "reconstruction" / "checkpoint" / "checkpoint_complete.json").exists()
    ):
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (tmp_path / "reconstruction" / "checkpoint").exists()
    result = subprocess.run(
        _train_command(folder, tmp_path, "--max-steps", "40", "--eval-every", "2", "--batch-size", "2", "--resume"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "reconstruction" / "record.json").read_text())
    assert record["resumed_from_step"] >= 2 and record["steps"] >= record["resumed_from_step"]


@pytest.mark.slow
def test_two_process_training_run(tmp_path, tiny_dataset):
    folder, _ = tiny_dataset
    command = [
        *TWO_CPU_PROCESSES,
        *_train_command(folder, tmp_path, "--max-steps", "4", "--eval-every", "2", "--batch-size", "1")[1:],
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "reconstruction" / "record.json").read_text())
    assert record["processes"] == 2 and record["steps"] == 4
    assert (tmp_path / "model" / "model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("script", ["train_v2_ultra.py", "train_ws5.py"])
def test_training_scripts_write_a_loadable_model(tmp_path, tiny_dataset, script):
    """Each Accelerate script, run as a user would, leaves a Hub-format model with its processor and record."""
    from transformers import AutoImageProcessor, AutoModel

    folder, _ = tiny_dataset
    path = Path(__file__).parents[2] / "training" / script
    result = subprocess.run(
        _train_command(folder, tmp_path, "--max-steps", "2", "--eval-every", "1", "--batch-size", "2", script=path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "best validation PSNR" in result.stdout
    model = AutoModel.from_pretrained(tmp_path / "model")
    processor = AutoImageProcessor.from_pretrained(tmp_path / "model")
    assert processor.num_channels == model.config.num_channels
    record = json.loads((tmp_path / "model" / "training_record.json").read_text())
    assert record["steps"] == 2 and record["stop_reason"] == "max_steps"
    if script == "train_v2_ultra.py":
        assert "material_miou" in record["best"] and "temporal_error" in record["best"]


@pytest.mark.slow
def test_distillation_and_warm_start_scripts(tmp_path, tiny_dataset):
    """`train_v2_ultra.py --teacher` distills the student through the Trainer and writes the seed's files;
    `train_v2_optimized.py --init-from` warm-starts from its stage-1 weights."""
    folder, _ = tiny_dataset
    teacher = tmp_path / "teacher"
    UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", role="teacher")).save_pretrained(teacher)
    common = ("--max-steps", "2", "--eval-every", "1", "--batch-size", "2")
    student = tmp_path / "student"
    distill = _train_command(folder, student, *common, "--teacher", str(teacher), script=SCRIPTS / "train_v2_ultra.py")
    result = subprocess.run(distill, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "V2-Ultra student distilled" in result.stdout
    for name in ("v2_ultra_best_stage1.pt", "v2_ultra_best_stage2.pt", "v2_ultra_global_best.pt"):
        assert (student / "legacy" / "v2_ultra" / name).is_file()
    optimized = tmp_path / "optimized"
    init = str(student / "distillation" / "stage1_best")
    warm = _train_command(
        folder,
        optimized,
        *common,
        "--init-from",
        init,
        "--gate-margin",
        "-100",
        script=SCRIPTS / "train_v2_optimized.py",
    )
    result = subprocess.run(warm, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "V2-Optimized rendering" in result.stdout and "V2-Optimized material" in result.stdout
    assert (optimized / "model" / "model.safetensors").is_file()
