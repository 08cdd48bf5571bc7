"""Resume is safe and exact: no file in a run folder runs code when a resume reads it (the stage loop's own
checkpoints and the distillation Trainer's), and a stage resumed after an interruption ends bit-identical to one
that was never interrupted."""

import json
import math
import os
import signal
import subprocess
import time

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file

from uruk_hf import UrukV2Ultra, UrukV2UltraConfig, UrukWS5CinematicConfig, UrukWS5CinematicRenderer
from uruk_hf.serialization import UnreadableFileError
from uruk_hf.training import stage as stage_module
from uruk_hf.training.checkpoint import CHECKPOINT_MARKER, CheckpointError, write_checkpoint_marker
from uruk_hf.training.data import UrukClipDataset
from uruk_hf.training.distillation import CurriculumStage, latest_complete_checkpoint, run_distillation
from uruk_hf.training.losses import DistillationWeights, LossWeights
from uruk_hf.training.progress import StageSettings, swap_into_place
from uruk_hf.training.stage import train_stage
from uruk_hf.training.tasks.frame_reconstruction import FrameReconstructionTask

from .test_training import _train_command

ACCELERATE_NAMES = (
    "custom_checkpoint_0.pkl",  # Accelerate's registered objects (read with weights_only=False by load_state)
    "random_states_0.pkl",
    "optimizer.bin",
    "scheduler.bin",
    "scaler.pt",
    "sampler.bin",
    "pytorch_model.bin",
)
STAGE_NAMES = (
    "model.safetensors",
    "optimizer.pt",
    "task_state.pt",
    "random_states_0.safetensors",
    "weight_average.safetensors",
    "progress.json",
)
TRAINER_NAMES = (
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state.pth",
    "rng_state_0.pth",
    "pytorch_model.bin",
    "training_args.bin",
    "model.safetensors",
    "uruk_task_state.pt",
    "uruk_curriculum.json",
)


class _Payload:
    """Pickles to a call of `os.system` that creates `marker`: if any load executes it, the marker appears."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plant(path, marker) -> None:
    torch.save({"state": _Payload(marker)}, path)


def _ws5_stage(tmp_path, dataset, **overrides):
    """A tiny WS5 stage in its adversarial setting (so the task's discriminator state is part of the checkpoint)
    at batch size 1 (several batches per epoch, so interruptions fall mid-epoch)."""
    folder, _ = dataset
    torch.manual_seed(0)
    config = UrukWS5CinematicConfig.from_preset("tiny")
    model = UrukWS5CinematicRenderer(config)
    task = FrameReconstructionTask(config)
    settings = StageSettings(
        **{
            "name": "gan",
            "batch_size": 1,
            "eval_every": 3,
            "warmup_steps": 1,
            "max_steps": 10,
            "patience": 100,
            "weights": LossWeights(l1=1.0, adversarial=0.05),
            **overrides,
        }
    )
    train = UrukClipDataset(folder, "train", config.input_buffers)
    validation = UrukClipDataset(folder, "validation", config.input_buffers)
    return model, lambda resume=False: train_stage(
        Accelerator(cpu=True), model, task, train, validation, settings, tmp_path, resume=resume
    )


class _Killed(Exception):
    pass


def _without_times(history):
    timings = ("seconds", "ms_per_frame")
    return [{key: value for key, value in entry.items() if key not in timings} for entry in history]


@pytest.mark.parametrize("ema_max_decay", [None, 0.999], ids=["raw_weights", "weight_average"])
def test_a_resumed_stage_equals_an_uninterrupted_one(tmp_path, tiny_dataset, monkeypatch, ema_max_decay):
    _, run = _ws5_stage(tmp_path / "straight", tiny_dataset, ema_max_decay=ema_max_decay)
    straight = run()

    save = stage_module._save_checkpoint
    saves = []

    def save_then_die(stage):
        save(stage)
        saves.append(stage.progress.step)
        if len(saves) == 2:
            raise _Killed  # as a kill right after the step-6 checkpoint: nothing else survives

    monkeypatch.setattr(stage_module, "_save_checkpoint", save_then_die)
    _, run = _ws5_stage(tmp_path / "resumed", tiny_dataset, ema_max_decay=ema_max_decay)
    with pytest.raises(_Killed):
        run()
    monkeypatch.setattr(stage_module, "_save_checkpoint", save)
    train = UrukClipDataset(tiny_dataset[0], "train", UrukWS5CinematicConfig.from_preset("tiny").input_buffers)
    assert len(train) > 1 and 6 % len(train) != 0  # the interruption fell inside an epoch
    progress = json.loads((tmp_path / "resumed" / "checkpoint" / "progress.json").read_text())
    assert progress["step"] == 6 and progress["epoch"] > 0 and progress["epoch_batches"] > 0
    assert (tmp_path / "resumed" / "checkpoint" / "task_state.pt").is_file()  # the discriminator goes on too

    _, run = _ws5_stage(tmp_path / "resumed", tiny_dataset, ema_max_decay=ema_max_decay)
    resumed = run(resume=True)
    assert resumed["resumed_from_step"] == 6 and resumed["steps"] == straight["steps"] == 10
    assert _without_times(resumed["history"]) == _without_times(straight["history"])
    names = ["best/model.safetensors", "checkpoint/model.safetensors"]
    if ema_max_decay is not None:
        names.append("checkpoint/weight_average.safetensors")
    for name in names:
        expected, actual = load_file(tmp_path / "straight" / name), load_file(tmp_path / "resumed" / name)
        assert all(torch.equal(expected[key], actual[key]) for key in expected), name
    expected = torch.load(tmp_path / "straight/checkpoint/task_state.pt", weights_only=True)["discriminator"]
    actual = torch.load(tmp_path / "resumed/checkpoint/task_state.pt", weights_only=True)["discriminator"]
    assert all(torch.equal(expected[key], actual[key]) for key in expected)


def test_no_planted_file_runs_code_when_a_stage_resumes(tmp_path, tiny_dataset):
    _, run = _ws5_stage(tmp_path, tiny_dataset, max_steps=2, ema_max_decay=0.99)
    run()
    checkpoint = tmp_path / "checkpoint"
    pristine = {path.name: path.read_bytes() for path in checkpoint.iterdir()}
    marker = tmp_path / "executed"
    refused = {}
    for name in ACCELERATE_NAMES + STAGE_NAMES:
        for forge_record in (False, True):
            for path in checkpoint.iterdir():
                path.unlink()
            for original, content in pristine.items():
                (checkpoint / original).write_bytes(content)
            _plant(checkpoint / name, marker)
            if forge_record:  # the attacker also rewrites the file record: the loaders must still refuse
                write_checkpoint_marker(checkpoint, step=2)
            _, resume = _ws5_stage(tmp_path, tiny_dataset, max_steps=2, ema_max_decay=0.99)
            try:
                resume(resume=True)
            except UnreadableFileError as error:
                assert str(checkpoint / name) in str(error), error
                refused[name, forge_record] = str(error)
            assert not marker.exists(), f"{name} ran code on resume"
    # Files of ours are refused, whether the record gives them away or not; Accelerate's names are never read.
    assert all((name, forge) in refused for name in STAGE_NAMES for forge in (False, True))
    assert not any((name, True) in refused for name in ACCELERATE_NAMES)
    assert "refused by torch.load(weights_only=True) and not executed" in refused["optimizer.pt", True]


def test_a_checkpoint_of_accelerate_pickles_is_refused_naming_it(tmp_path, tiny_dataset):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir(parents=True)
    marker = tmp_path / "executed"
    _plant(checkpoint / "custom_checkpoint_0.pkl", marker)
    (checkpoint / CHECKPOINT_MARKER).write_text(json.dumps({"time": 0}))  # the record of older versions
    _, resume = _ws5_stage(tmp_path, tiny_dataset, max_steps=2)
    with pytest.raises(CheckpointError, match="checkpoint without a file record .* it is not read"):
        resume(resume=True)
    assert not marker.exists()


def test_no_planted_file_runs_code_when_distillation_resumes(tmp_path, tiny_dataset):
    folder, _ = tiny_dataset
    torch.manual_seed(0)
    teacher = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", role="teacher"))
    settings = StageSettings("stage1", batch_size=2, eval_every=2, max_steps=2, warmup_steps=1)

    def distill(resume):
        student = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", role="student"))
        task = FrameReconstructionTask(student.config)
        train = UrukClipDataset(folder, "train", student.config.input_buffers)
        validation = UrukClipDataset(folder, "validation", student.config.input_buffers)
        stages = [CurriculumStage(settings, DistillationWeights(teacher_frame=1.0))]
        return run_distillation(student, teacher, task, train, validation, stages, tmp_path, resume=resume)

    distill(resume=False)
    checkpoint = latest_complete_checkpoint(tmp_path / "checkpoints")
    pristine = {path.name: path.read_bytes() for path in checkpoint.iterdir()}
    marker = tmp_path / "executed"
    refused = {}
    for name in TRAINER_NAMES:
        for forge_record in (False, True):
            for path in checkpoint.iterdir():
                path.unlink()
            for original, content in pristine.items():
                (checkpoint / original).write_bytes(content)
            _plant(checkpoint / name, marker)
            if forge_record:
                write_checkpoint_marker(checkpoint, step=2)
            try:
                distill(resume=True)
            except (UnreadableFileError, ValueError) as error:
                assert str(checkpoint / name) in str(error), error
                refused[name, forge_record] = str(error)
            assert not marker.exists(), f"{name} ran code on resume"
    read_on_resume = [name for name in TRAINER_NAMES if name != "training_args.bin"]
    assert all((name, forge) in refused for name in read_on_resume for forge in (False, True))
    assert "refused by torch.load(weights_only=True)" in refused["rng_state.pth", True]


def _uninterrupted(folder, output, arguments) -> tuple[dict, list]:
    """Runs the training command to its end in `output`; returns its final weights and its history."""
    run = subprocess.run(_train_command(folder, output, *arguments), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    record = json.loads((output / "reconstruction" / "record.json").read_text())
    return load_file(output / "model" / "model.safetensors"), _without_times(record["history"])


def _histories_close(expected: list[dict], actual: list[dict]) -> bool:
    """The same evaluations at the same steps and learning rates, every metric within a relative 1e-4."""
    return len(expected) == len(actual) and all(
        a.keys() == b.keys()
        and a["step"] == b["step"]
        and a.get("lr") == b.get("lr")
        and all(math.isclose(a[key], b[key], rel_tol=1e-4, abs_tol=1e-7) for key in a if isinstance(a[key], float))
        for a, b in zip(expected, actual)
    )


@pytest.mark.slow
def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path, tiny_dataset):
    """The user's path: `train_ws5.py` killed with SIGKILL after its first checkpoint, resumed with the same
    command plus `--resume`, ends with the same weights and validation history as the same command never
    interrupted.

    Two uninterrupted processes of this command are not always bit-identical on a CPU: this test failed in two CI
    runs of about twenty, and in the second the uninterrupted run was the odd one out, 1e-7 off in SSIM from step 4
    on, while the resumed run matched 30 uninterrupted reruns bit for bit. So a resumed run that differs from the
    first uninterrupted run is compared with a second one, and one that matches neither bit for bit must still be
    within the reordering noise (a relative 1e-4, the same learning rate at every step); a resume that restores
    anything wrongly is far outside it (leaving out the optimizer state fails it)."""
    folder, _ = tiny_dataset
    arguments = ("--max-steps", "12", "--eval-every", "2", "--batch-size", "1")
    expected, expected_history = _uninterrupted(folder, tmp_path / "straight", arguments)
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _train_command(folder, killed, *arguments), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (killed / "reconstruction" / "checkpoint" / CHECKPOINT_MARKER).exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "model").exists(), "the run finished before it was killed"
    resumed = subprocess.run(
        _train_command(folder, killed, *arguments, "--resume"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    record = json.loads((killed / "reconstruction" / "record.json").read_text())
    assert record["resumed_from_step"] >= 2
    actual, history = load_file(killed / "model" / "model.safetensors"), _without_times(record["history"])

    def differing(weights: dict) -> list[str]:
        return [key for key in weights if not torch.equal(weights[key], actual[key])]

    first = expected
    if differing(expected) or expected_history != history:
        expected, expected_history = _uninterrupted(folder, tmp_path / "straight_again", arguments)
    # On a failure, say where the runs parted: the first evaluation that differs tells a training difference from
    # a difference in which weights were kept.
    report = {
        "differing tensors": differing(expected)[:5],
        "uninterrupted runs equal": all(torch.equal(first[key], expected[key]) for key in expected),
        "resumed from step": record["resumed_from_step"],
        "histories (uninterrupted, resumed)": (expected_history, history),
        "folders left": sorted(path.name for path in (killed / "reconstruction").iterdir()),
    }
    if differing(expected) or expected_history != history:
        # Neither uninterrupted run matched bit for bit. Floating-point reordering (the CPU nondeterminism above)
        # moves a 12-step run by about 1e-7; a resume that restores the optimizer, scheduler, data order or RNG
        # wrongly moves it by orders of magnitude more, and the learning rate of each step exactly.
        assert all(torch.allclose(expected[key], actual[key], rtol=1e-4, atol=1e-6) for key in expected), report
        assert _histories_close(expected_history, history), report


@pytest.mark.parametrize("kill_fell", ["between the renames", "during the removal of the old folder"])
def test_a_checkpoint_swap_after_a_kill_keeps_one_whole_folder(tmp_path, kill_fell):
    """A kill inside `swap_into_place` leaves `.previous` behind: alone (between the two renames), or beside a
    whole `folder` (while the old one was being removed). The next swap must succeed in both cases and leave only
    the new folder."""
    folder, previous, temporary = (
        tmp_path / name for name in ("checkpoint", "checkpoint.previous", "checkpoint.partial")
    )
    previous.mkdir()
    (previous / "model.safetensors").write_text("old")
    if kill_fell == "during the removal of the old folder":
        folder.mkdir()
        (folder / "model.safetensors").write_text("whole")
    temporary.mkdir()
    (temporary / "model.safetensors").write_text("new")
    swap_into_place(temporary, folder)
    assert (folder / "model.safetensors").read_text() == "new"
    assert not previous.exists() and not temporary.exists()
