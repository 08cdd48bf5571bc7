"""What a card (and the pipeline's printed table) says trained its model: the pipeline, or the `uruk train` command
of a run trained beforehand into the pipeline folder with options of its own, which the pipeline then resumed."""

import json

from uruk_hf.catalog import get_family
from uruk_hf.cli import _trained_elsewhere
from uruk_hf.publish.build import _trained_by


def test_a_card_names_the_options_a_run_was_trained_with_beyond_the_pipelines(tmp_path):
    context = {"preset": "quick", "runs": tmp_path, "run_options": {}}
    ws8, rr = get_family("ws8"), get_family("v2_ultra_rr")
    assert _trained_by(ws8, context) == "`uruk pipeline --preset quick`"  # no record: an older run

    options = {"time_scale": "12", "self_training_rounds": "12", "self_training_geometry_temperature": None}
    (tmp_path / "ws8").mkdir()
    record = {"family": "ws8", "preset": "quick", "seed": 3, "data": "data", "options": options}
    record["started_by"] = "uruk train"
    (tmp_path / "ws8" / "run_options.json").write_text(json.dumps(record))
    assert _trained_by(ws8, context) == (
        "`uruk train ws8 --preset quick --seed 3 --time-scale 12 --self-training-rounds 12` in the pipeline folder, "
        "then evaluated and published by `uruk pipeline --preset quick` with `--resume`"
    )
    assert context["run_options"]["ws8"] == record  # its numbers are sourced from this record

    # A run the pipeline started (with the options it passes itself: a warm start) is the pipeline's.
    (tmp_path / "v2_ultra_rr").mkdir()
    passed = {"init_from": str(tmp_path / "v2_ultra" / "models" / "v2_ultra"), "learning_rate": "0.004"}
    record = {"family": "v2_ultra_rr", "preset": "quick", "seed": 0, "data": "data", "options": passed}
    record["started_by"] = "uruk pipeline"
    (tmp_path / "v2_ultra_rr" / "run_options.json").write_text(json.dumps(record))
    assert _trained_by(rr, context) == "`uruk pipeline --preset quick`"

    # The pipeline's printed table says which of its families `uruk train` trained.
    assert _trained_elsewhere(tmp_path, ["v2_ultra_rr", "ws8"]) == (
        ", except ws8's, trained by `uruk train` in the folder"
    )
    assert _trained_elsewhere(tmp_path, ["v2_ultra_rr"]) == ""
