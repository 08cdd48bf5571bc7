"""The published repo folder, built from a tiny `uruk pipeline` run: what the seed's users and Hub users load."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from uruk_hf.catalog import iter_models

from ..hub_cache import lay_out_hub_cache

pytestmark = pytest.mark.slow  # every test here builds the repo folder from a tiny pipeline run

PUBLISHED_MODELS = [model for _, model in iter_models(published_only=True)]
RENDERERS = [model for family, model in iter_models(published_only=True) if family.dataset_kind == "gbuffer_clips"]
REMAPPERS = [model for family, model in iter_models(published_only=True) if family.dataset_kind == "relighting_pairs"]


@pytest.fixture(scope="module")
def built(tiny_dataset, tmp_path_factory):
    from uruk_hf.cli import main

    folder, _ = tiny_dataset
    runs = tmp_path_factory.mktemp("runs")
    assert main(["pipeline", "--preset", "tiny", "--data", str(folder), "--output", str(runs)]) == 0
    return runs, runs / "hub"


def test_publish_build_rebuilds_the_folder_from_the_runs(built, tmp_path):
    from uruk_hf.cli import main

    runs, hub = built
    assert main(["publish", "build", "--runs", str(runs), "--output", str(tmp_path), "--repo-id", "org/uruk"]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(path.name for path in hub.iterdir())


def test_every_subfolder_loads_with_auto_model_and_from_pretrained(built):
    from transformers import AutoModel

    import uruk_hf  # noqa: F401  (registers the models)
    from uruk_hf import UrukV2Ultra

    _, hub = built
    assert isinstance(UrukV2Ultra.from_pretrained(hub, subfolder="v2_ultra"), UrukV2Ultra)
    folders = sorted(path.parent for path in hub.rglob("config.json"))
    assert {str(folder.relative_to(hub)) for folder in folders} == {entry.subfolder for entry in PUBLISHED_MODELS}
    packed = {entry.subfolder for entry in RENDERERS + REMAPPERS}
    exported = {entry.subfolder for family, entry in iter_models(published_only=True) if family.onnx_config}
    for folder in folders:
        assert type(AutoModel.from_pretrained(folder)).__name__.startswith("Uruk")
        for name in ("model.safetensors", "README.md"):
            assert (folder / name).is_file(), folder / name
        onnx = (folder / "model.onnx").is_file() and (folder / "model.int8.onnx").is_file()
        assert onnx == (str(folder.relative_to(hub)) in exported), folder  # the content generators are not exported
        assert any((folder / name).is_file() for name in ("examples.png", "examples.gif")), folder
        processor = (folder / "preprocessor_config.json").is_file()
        assert processor == (str(folder.relative_to(hub)) in packed), folder  # the G-buffer packing


def test_the_seed_snippet_runs_literally_inside_the_folder(built):
    _, hub = built
    snippet = textwrap.dedent(
        """
        import torch

        # Load a checkpoint
        checkpoint = torch.load("v2_ultra/v2_ultra_global_best.pt", map_location="cpu")
        model_state = checkpoint["model_state_dict"]

        # For ONNX inference
        import onnxruntime as ort
        session = ort.InferenceSession("onnx/uruk_v2_ultra_best.onnx")
        print(len(model_state), [i.name for i in session.get_inputs()])
        """
    )
    result = subprocess.run([sys.executable, "-c", snippet], cwd=hub, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "['pixel_values']" in result.stdout


def test_ort_matches_eager_on_tonemapped_output(built):
    from transformers import AutoModel

    from uruk_hf import UrukORTRenderer, UrukORTWS4Remapper
    from uruk_hf.tonemap import tonemap

    _, hub = built
    for entry in RENDERERS:
        model = AutoModel.from_pretrained(hub, subfolder=entry.subfolder).eval()
        ort = UrukORTRenderer.from_pretrained(hub, subfolder=entry.subfolder)
        pixel_values = torch.rand(1, model.config.num_channels, 29, 35)
        with torch.no_grad():
            expected = tonemap(model(pixel_values).frame)
        assert float((tonemap(ort(pixel_values).frame) - expected).abs().max()) < 1e-4, entry.key
    for entry in REMAPPERS:
        model = AutoModel.from_pretrained(hub, subfolder=entry.subfolder).eval()
        ort = UrukORTWS4Remapper.from_pretrained(hub, subfolder=entry.subfolder)
        pixel_values = torch.rand(1, model.config.num_channels, 29, 35)
        condition = torch.zeros(1, model.config.condition_size)
        condition[0, 1] = condition[0, len(model.config.lighting_presets) + 3] = 1.0
        with torch.no_grad():
            expected = tonemap(model(pixel_values, condition).frame)
        assert float((tonemap(ort(pixel_values, condition).frame) - expected).abs().max()) < 1e-4, entry.key


def test_cards_load_and_their_model_index_equals_the_evaluation_record(built):
    from huggingface_hub import ModelCard

    _, hub = built
    evaluation = json.loads((hub / "evaluation.json").read_text())
    for entry in PUBLISHED_MODELS:
        card = ModelCard.load(hub / entry.subfolder / "README.md")
        measured = evaluation["models"][entry.key]["pytorch"]
        values = {result.metric_type: result.metric_value for result in card.data.eval_results}
        headline = {
            "npc_director": "transition_accuracy",
            "animation_director": "rollout_error_degrees",
            "ws8_structure_generator": "validity",
            "ws3_world_authoring": "knob_error",
            "ws3_student": "knob_error",
        }
        if entry in RENDERERS:
            assert values["psnr"] == measured["psnr"] and values["flip"] == measured["flip"]
        elif entry in REMAPPERS:
            assert values["psnr"] == measured["psnr"]
            assert values["psnr_shadow_changed"] == measured["psnr_shadow_changed"]
        else:
            assert values[headline[entry.key]] == measured[headline[entry.key]]
        if "material_miou" in measured:
            assert values["mean_iou"] == measured["material_miou"]
    root = ModelCard.load(hub / "README.md")
    assert root.data.license == "apache-2.0" and "neural-rendering" in root.data.tags
    assert "94.6%" in root.text and "missing" in root.text


def test_ws3_is_scored_against_retrieval_on_the_requests_it_sampled(built):
    """The tiny test split has fewer maps than `SAMPLED_REQUESTS`: every request is sampled, so retrieval measured
    inside the evaluation is the dataset's own `nearest_neighbour` baseline, and the card shows the ratio."""
    _, hub = built
    evaluation = json.loads((hub / "evaluation.json").read_text())
    retrieval = evaluation["baselines"]["world_maps"]["nearest_neighbour"]["knob_error"]
    for key in ("ws3_world_authoring", "ws3_student"):
        measured = evaluation["models"][key]["pytorch"]
        assert measured["retrieval_knob_error"] == pytest.approx(retrieval)
        assert measured["knob_error_to_retrieval"] == pytest.approx(measured["knob_error"] / retrieval)
        assert measured["knob_error_standard_error"] > 0
    card = (hub / "workstreams" / "ws3_world_authoring" / "README.md").read_text()
    assert "| ratio to retrieval | s.e. |" in card and "1.000" in card  # retrieval's own row


def test_a_card_number_without_a_record_is_caught(built):
    from uruk_hf.publish.build import TEMPLATES, unsourced_numbers

    _, hub = built
    card = (hub / "v2_ultra" / "README.md").read_text()
    records = [
        json.loads((hub / "evaluation.json").read_text()),
        json.loads((hub / "v2_ultra" / "training_record.json").read_text()),
        json.loads((hub / "v2_ultra" / "config.json").read_text()),
        json.loads((built[0] / "results.json").read_text()),
    ]
    template = (TEMPLATES / "model_card.md.j2").read_text()
    assert unsourced_numbers(card, [*records, 32], template) == []
    # Five decimals: no record value rounds to it (cards round to at most four), so no tiny run's metric can match it.
    invented = card.replace("## Results", "PSNR 41.37195 dB\n## Results")
    assert unsourced_numbers(invented, [*records, 32], template) == ["41.37195"]


def test_manifest_lists_every_seed_file_present_or_missing(built, capsys):
    from uruk_hf.publish.manifest import SEED_FILES

    _, hub = built
    rows = json.loads((hub / "manifest.json").read_text())
    assert [row["path"] for row in rows] == list(SEED_FILES)
    present = {row["path"] for row in rows if row["present"]}
    assert "v2_ultra/v2_ultra_best_stage1.pt" in present and "onnx/uruk_v2_ultra_best.onnx" in present
    assert {"npc_director_v2/best.pt", "onnx/npc_director.onnx", "animation_director/best.pt"} <= present
    assert {"ws8_structure_generator/best_model.pt", "workstreams/ws3_world_authoring/ws3_best.pt"} <= present
    assert {"distillation/ws3_student_best.pt", "distillation/ws3_student_final.pt"} <= present
    assert "workstreams/ws2_learned_world/ws2_best.pt" not in present  # a family not built yet: listed, not faked
    assert not (hub / "workstreams" / "ws2_learned_world").exists()


def test_the_built_folder_loads_by_repo_id_from_an_offline_cache(built, tmp_path):
    _, hub = built
    lay_out_hub_cache(tmp_path / "hf_home", "org/uruk", hub)
    script = textwrap.dedent(
        """
        import torch
        import uruk_hf
        from uruk_hf import UrukORTRenderer, UrukORTWS8StructureGenerator, UrukV2Ultra

        model = UrukV2Ultra.from_pretrained("org/uruk", subfolder="v2_ultra")
        ort = UrukORTRenderer.from_pretrained("org/uruk", subfolder="v2_ultra")
        frame = ort(torch.rand(1, model.config.num_channels, 16, 16)).frame
        print(tuple(frame.shape))
        structures = UrukORTWS8StructureGenerator.from_pretrained(
            "org/uruk", subfolder="ws8_structure_generator", file_name="model.int8.onnx"
        )
        layout = structures.config.token_layout()
        prompt = torch.tensor([[layout.bos, layout.field_range("class")[0]]])
        tokens = structures.generate(prompt, do_sample=True, min_new_tokens=15, max_new_tokens=15)
        print("structure tokens", tokens.shape[1])
        """
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(1, 3, 16, 16)" in result.stdout
    assert "structure tokens 17" in result.stdout


def test_upload_calls_upload_folder_without_touching_the_network(built):
    from unittest.mock import MagicMock

    from uruk_hf.publish.upload import upload_repo_folder

    _, hub = built
    api = MagicMock()
    done = upload_repo_folder(hub, "org/uruk", api=api)
    api.create_repo.assert_called_once_with("org/uruk", repo_type="model", private=False, exist_ok=True)
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["repo_id"] == "org/uruk" and kwargs["folder_path"] == str(hub) and done["method"] == "upload_folder"
    with pytest.raises(FileNotFoundError, match="not a built repo folder"):
        upload_repo_folder(hub / "onnx", "org/uruk", api=api)
