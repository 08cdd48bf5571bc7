"""The moving average of a stage's weights (`StageSettings.ema_max_decay`, `training.averaging.WeightAverage`)."""

import pytest
import torch
from safetensors.torch import load_file

from uruk_hf.training.averaging import EMA_POWER, WeightAverage
from uruk_hf.training.checkpoint import CheckpointError
from uruk_hf.training.distillation import CurriculumStage, UrukCurriculumCallback
from uruk_hf.training.progress import StageSettings

from .test_resume_safety import _ws5_stage


def test_the_average_follows_diffusers_warm_up_and_is_applied_only_inside_its_block():
    model = torch.nn.Linear(3, 2)
    average = WeightAverage(model, max_decay=0.9)
    expected = [parameter.detach().clone() for parameter in model.parameters()]
    for step in range(1, 6):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(float(step))
        average.update(model)
        decay = 0.0 if step == 1 else min(0.9, 1 - step**-EMA_POWER)  # warm-up after the first step
        expected = [decay * old + (1 - decay) * new.detach() for old, new in zip(expected, model.parameters())]
    raw = [parameter.detach().clone() for parameter in model.parameters()]
    with average.applied(model):
        assert all(torch.allclose(p, e) for p, e in zip(model.parameters(), expected))
    assert all(torch.equal(p, r) for p, r in zip(model.parameters(), raw))
    assert average.steps == 5


def test_a_saved_average_loads_back_and_one_of_another_model_is_refused(tmp_path):
    model = torch.nn.Linear(3, 2)
    average = WeightAverage(model, max_decay=0.99)
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update(model)
    average.update(model)
    average.save(tmp_path / "average.safetensors")

    restored = WeightAverage(torch.nn.Linear(3, 2), max_decay=0.99)
    restored.load(tmp_path / "average.safetensors", steps=2)
    assert all(torch.equal(a, b) for a, b in zip(restored.average.shadow_params, average.average.shadow_params))
    # The restored average continues the warm-up where the original stands: one more update agrees exactly.
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update(model)
    restored.update(model)
    assert all(torch.equal(a, b) for a, b in zip(restored.average.shadow_params, average.average.shadow_params))
    with pytest.raises(ValueError, match="average.safetensors.*weight"):
        WeightAverage(torch.nn.Linear(4, 2), max_decay=0.99).load(tmp_path / "average.safetensors", steps=2)
    (tmp_path / "damaged.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="damaged.safetensors"):
        restored.load(tmp_path / "damaged.safetensors", steps=2)
    with pytest.raises(ValueError, match="ema_max_decay"):
        WeightAverage(model, max_decay=1.0)


def test_a_stage_with_an_average_validates_and_keeps_the_average_and_trains_on_its_own_weights(tmp_path, tiny_dataset):
    # One evaluation, at the last step: the best weights are the average at that step.
    _, run = _ws5_stage(tmp_path, tiny_dataset, max_steps=4, eval_every=4, ema_max_decay=0.99)
    record = run()
    assert record["settings"]["ema_max_decay"] == 0.99
    best = load_file(tmp_path / "best" / "model.safetensors")
    averaged = load_file(tmp_path / "checkpoint" / "weight_average.safetensors")
    trained = load_file(tmp_path / "checkpoint" / "model.safetensors")
    assert all(torch.equal(best[name], averaged[name]) for name in averaged)
    assert any(not torch.equal(trained[name], averaged[name]) for name in averaged)


def test_resuming_with_an_average_from_a_checkpoint_without_one_is_refused(tmp_path, tiny_dataset):
    _, run = _ws5_stage(tmp_path, tiny_dataset, max_steps=2, eval_every=2)
    run()
    _, run = _ws5_stage(tmp_path, tiny_dataset, max_steps=4, eval_every=2, ema_max_decay=0.99)
    with pytest.raises(CheckpointError, match="weight_average.safetensors"):
        run(resume=True)


def test_the_distillation_trainer_refuses_a_stage_that_asks_for_an_average(tmp_path):
    stage = CurriculumStage(StageSettings("distillation", ema_max_decay=0.99), None)
    with pytest.raises(ValueError, match="'distillation' sets ema_max_decay"):
        UrukCurriculumCallback([stage], task=None, output_dir=tmp_path)


def test_a_cards_stage_table_says_which_stage_kept_an_average():
    from uruk_hf.publish.build import _stage_rows

    stage = {"stage": "production", "steps": 10, "stop_reason": "max_steps", "seconds": 3.0}
    stage["best"] = {"step": 10, "denoising_score": -0.1}
    averaged = {**stage, "settings": {"ema_max_decay": 0.9999}}
    rows = _stage_rows({"stages": [stage, averaged]}, "denoising_score")
    assert [row[0] for row in rows] == ["production", "production (moving average of the weights, decay up to 0.9999)"]
