"""The registry claim: a family defined entirely outside the package (config, model, task, data generator and
lifecycle, a few lines each) and registered at run time goes through `uruk train`, `uruk pipeline --families` and
`uruk publish build` like the built-in ones."""

import json

import pytest
import torch
from safetensors.torch import load_file

from uruk_hf.catalog import Family, ModelEntry, family_names, register_family, unregister_family
from uruk_hf.models.gbuffer_renderer.configuration_gbuffer_renderer import UrukRendererConfig
from uruk_hf.models.gbuffer_renderer.modeling_gbuffer_renderer import UrukRendererPreTrainedModel
from uruk_hf.schema import WS5_LAYOUT
from uruk_hf.training.losses import FRAME_LOSS
from uruk_hf.training.run import Lifecycle
from uruk_hf.training.tasks.frame_reconstruction import FrameReconstructionTask


class ToyConfig(UrukRendererConfig):
    model_type = "uruk_test_toy"
    default_input_buffers = WS5_LAYOUT
    default_role = None
    default_use_material_head = False
    presets = {name: {"hidden_sizes": [4, 8], "depths": [1, 1]} for name in ("tiny", "quick", "full")}


class ToyModel(UrukRendererPreTrainedModel):
    config_class = ToyConfig


class ToyTask(FrameReconstructionTask):
    """The renderers' task with the frame loss only."""


def train_toy(data, output, preset, resume, seed=0):
    lifecycle = Lifecycle(TOY, data, output, preset, resume, seed=seed)
    _, _, learning_rate = lifecycle.train_model("toy", FRAME_LOSS)
    return lifecycle.write({"learning_rate": learning_rate})


TOY = Family(
    name="toy",
    title="Toy renderer",
    dataset_kind="gbuffer_clips",
    task=ToyTask,
    train=train_toy,
    onnx_config="uruk_hf.models.gbuffer_renderer.onnx_gbuffer_renderer:UrukRendererOnnxConfig",
    models=(
        ModelEntry(
            "toy", ToyModel, ToyConfig, "toy/models/toy", subfolder="toy", budget=1000, curve=("toy/production",)
        ),
    ),
)


@pytest.fixture
def toy_family():
    register_family(TOY)
    yield TOY
    unregister_family("toy")


@pytest.mark.slow
def test_a_family_registered_at_run_time_trains_runs_in_the_pipeline_and_publishes(toy_family, tiny_dataset, tmp_path):
    from uruk_hf.cli import main

    data, _ = tiny_dataset
    assert "toy" in family_names()
    trained = tmp_path / "train"
    arguments = ["train", "toy", "--data", str(data), "--output", str(trained), "--preset", "tiny", "--seed", "7"]
    assert main(arguments) == 0
    assert (trained / "models" / "toy" / "model.safetensors").is_file()
    lifecycle = json.loads((trained / "lifecycle.json").read_text())
    assert lifecycle["seed"] == 7 and lifecycle["budget"]["stage"]["seed"] == 7

    runs = tmp_path / "pipeline"
    arguments = ["pipeline", "--families", "toy", "--preset", "tiny", "--data", str(data), "--output", str(runs)]
    assert main(arguments) == 0
    results = json.loads((runs / "results.json").read_text())
    assert results["families"] == ["toy"] and list(results["models"]) == ["toy"]
    assert not (runs / "v2_ultra").exists()  # a subset runs alone
    assert results["seed"] == 0
    seeded = load_file(trained / "models" / "toy" / "model.safetensors")
    default = load_file(runs / "toy" / "models" / "toy" / "model.safetensors")
    assert any(not torch.equal(seeded[name], default[name]) for name in default)  # the seed reaches training
    hub = runs / "hub"
    assert (hub / "toy" / "model.onnx").is_file() and (hub / "toy" / "README.md").is_file()
    assert "uruk_test_toy" in (hub / "toy" / "README.md").read_text()
    manifest = json.loads((hub / "manifest.json").read_text())
    assert not any(row["present"] for row in manifest)  # no seed file is faked by a family that makes none


def test_pipeline_adds_the_families_a_subset_requires():
    from uruk_hf.pipeline import select_families

    families, added = select_families(["v2_optimized"])
    assert [family.name for family in families] == ["v2_ultra", "v2_optimized"] and added == ["v2_ultra"]
    with pytest.raises(ValueError, match="Unknown family 'nope'; registered families: v2_ultra"):
        select_families(["nope"])
