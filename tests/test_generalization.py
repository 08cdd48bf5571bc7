"""`uruk evaluate`: models and baselines on the test split and on the hand-made scenes, side by side."""

import json

import pytest

from uruk_hf import UrukV2Ultra, UrukV2UltraConfig
from uruk_hf.cli import main
from uruk_hf.generalization import _run_data, evaluate_generalization, generalization_tables


def test_bad_arguments_are_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--scenes", str(tmp_path)])
    assert stop.value.code == 2 and "--run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--data", str(tmp_path), "--scenes", str(tmp_path), "--model", "no_equals_sign"])
    assert "NAME=FOLDER" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a dataset folder"):
        evaluate_generalization(data=tmp_path, scenes_root=tmp_path / "scenes", models={"m": tmp_path})
    with pytest.raises(ValueError, match="Unknown collection 'training'"):
        evaluate_generalization(data=tmp_path, scenes_root=tmp_path, models={"m": tmp_path}, collection="training")


def test_a_run_s_dataset_is_found_from_any_working_directory(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "quick"
    (run / "data").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert _run_data(run) == run / "data"  # no results.json yet
    # `uruk pipeline` records its own data folder relative to the run.
    (run / "results.json").write_text(json.dumps({"data": {"gbuffer_clips": "data"}}))
    assert _run_data(run) == run / "data"
    shared = tmp_path / "shared_data"  # --data outside the run: recorded absolute
    shared.mkdir()
    (run / "results.json").write_text(json.dumps({"data": {"gbuffer_clips": str(shared)}}))
    assert _run_data(run) == shared


@pytest.mark.slow
def test_evaluate_a_model_on_test_and_hand_made_scenes(tmp_path, tiny_dataset, capsys):
    folder, _ = tiny_dataset
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny"))
    model.save_pretrained(tmp_path / "model")
    output = tmp_path / "generalization.json"
    code = main(
        ["evaluate", "--data", str(folder), "--model", f"tiny={tmp_path / 'model'}", "--sizes", "16,32",
         "--spp", "4", "--scenes", str(tmp_path / "scenes"), "--output", str(output)]
    )  # fmt: skip
    assert code == 0
    results = json.loads(output.read_text())
    assert list(results["sets"]) == ["test", "ood_16", "ood_32"]
    for name in results["sets"]:
        metrics = results["models"]["tiny"]["sets"][name]
        assert {"psnr", "flip", "material_miou", "temporal_error"} <= set(metrics)
        for baseline in ("direct", "path_1spp", "oidn_high", "oidn_balanced", "oidn_fast", "per_pixel_mlp"):
            assert name in results["baselines"][baseline]
    printed = capsys.readouterr().out
    assert printed.startswith("Frames") and "oidn_fast" in printed and "Materials" in printed
    assert generalization_tables(results) in printed and results["collection"] == "evaluation"
    # The held-out scenes: their own folders and results, the evaluation set's left as they were.
    held_out = tmp_path / "holdout.json"
    code = main(
        ["evaluate", "--data", str(folder), "--model", f"tiny={tmp_path / 'model'}", "--sizes", "16", "--spp", "4",
         "--scenes", str(tmp_path / "scenes"), "--output", str(held_out), "--collection", "holdout"]
    )  # fmt: skip
    assert code == 0 and json.loads(output.read_text()) == results
    holdout = json.loads(held_out.read_text())
    assert holdout["collection"] == "holdout" and holdout["sets"]["ood_16"] == str(tmp_path / "scenes" / "holdout_16")
    assert holdout["models"]["tiny"]["sets"]["ood_16"]["psnr"] != results["models"]["tiny"]["sets"]["ood_16"]["psnr"]
