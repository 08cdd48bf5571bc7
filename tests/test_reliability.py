"""Bad input, tried as a careless or hostile user would: every case gets an error of a stated type whose message
names the file, buffer or field and what is wrong; the CLI prints it on one line (exit 2 for bad arguments and
inputs, 1 for failures). (Resume safety and exactness: tests/training/test_resume_safety.py.)"""

import errno
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from uruk_hf import (
    LegacyCheckpointError,
    UrukGBufferProcessor,
    UrukORTRenderer,
    UrukV2Ultra,
    UrukV2UltraConfig,
    UrukWS5CinematicConfig,
    UrukWS5CinematicRenderer,
)
from uruk_hf.cli import main
from uruk_hf.data.folder import chunk_path
from uruk_hf.data.rendering.exr import read_exr_gbuffer, write_exr_gbuffer
from uruk_hf.data.rendering.generator import generate_gbuffer_dataset
from uruk_hf.data.rendering.synthetic import synthetic_gbuffer
from uruk_hf.serialization import UnreadableFileError


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A tiny V2-Ultra and a tiny WS5 model folder."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny")).save_pretrained(root / "v2_ultra")
    UrukWS5CinematicRenderer(UrukWS5CinematicConfig.from_preset("tiny")).save_pretrained(root / "ws5")
    return root


def _copy(folders, name, tmp_path) -> Path:
    return Path(shutil.copytree(folders / name, tmp_path / name))


def _cli(arguments, capsys) -> tuple[int, str]:
    """Runs `uruk <arguments>`; returns the exit status and the error, which must be one line (stderr may also
    hold progress and the renderer's variant), never a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "Traceback" not in err, err
    return exit_info.value.code, errors[0]


def _digest(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


# 3. Another family's folder -------------------------------------------------------------------------------------
def test_a_class_refuses_another_familys_folder_naming_both_types(folders):
    with pytest.raises(
        ValueError, match=r"ws5/config.json holds a 'uruk_ws5_cinematic' model, but .* 'uruk_v2_ultra'"
    ):
        UrukV2Ultra.from_pretrained(folders / "ws5")
    with pytest.raises(ValueError, match=r"holds a 'uruk_v2_ultra' model, but .* 'uruk_ws5_cinematic'"):
        UrukWS5CinematicRenderer.from_pretrained(folders / "v2_ultra")
    from transformers import AutoModel

    assert isinstance(AutoModel.from_pretrained(folders / "ws5"), UrukWS5CinematicRenderer)  # the way to load any


# 4. NaN / Inf inputs --------------------------------------------------------------------------------------------
def _poisoned(config, buffer: str, value: float) -> torch.Tensor:
    pixel_values = torch.rand(1, config.num_channels, 12, 12)
    pixel_values[0, config.buffer_slice(buffer).start, 5, 7] = value
    return pixel_values


@pytest.mark.parametrize(
    "model_class,buffer,value",
    [
        (UrukV2Ultra, "albedo", float("nan")),
        (UrukV2Ultra, "material_id", float("nan")),  # was: index -9223372036854775808 is out of bounds
        (UrukWS5CinematicRenderer, "direct", float("inf")),
    ],
)
def test_non_finite_pixel_values_are_refused_naming_the_buffer(model_class, buffer, value):
    model = model_class(model_class.config_class.from_preset("tiny")).eval()
    with pytest.raises(ValueError, match=f"NaN/Inf values: 1 in channel \\d+ \\('{buffer}' component 0\\)"):
        model(_poisoned(model.config, buffer, value))


def test_onnx_runtime_refuses_non_finite_inputs_and_the_graph_has_no_check(folders, tmp_path):
    import onnx

    from uruk_hf.exporters.onnx import export_onnx

    export_onnx(folders / "v2_ultra", tmp_path)
    operators = {node.op_type for node in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert not operators & {"IsNaN", "IsInf"}
    renderer = UrukORTRenderer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'material_id' component 0"):
        renderer(_poisoned(renderer.config, "material_id", float("nan")).numpy())
    assert torch.isfinite(renderer(torch.rand(1, renderer.config.num_channels, 12, 12)).frame).all()


# 6. Truncated model.safetensors -----------------------------------------------------------------------------------
def test_truncated_weights_are_named(folders, tmp_path, capsys, tiny_dataset):
    folder = _copy(folders, "v2_ultra", tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(UnreadableFileError, match=f"{weights} is not a readable safetensors file"):
        UrukV2Ultra.from_pretrained(folder)
    status, err = _cli(
        ["train", "v2_optimized", "--data", str(tiny_dataset[0]), "--output", str(tmp_path / "run"),
         "--preset", "tiny", "--init-from", str(folder)],
        capsys,
    )  # fmt: skip
    assert status == 2 and f"{weights} is not a readable safetensors file" in err


# 7. Broken .pt files ----------------------------------------------------------------------------------------------
def test_broken_pt_files_are_named(folders, tmp_path):
    model = UrukV2Ultra.from_pretrained(folders / "v2_ultra")
    buffer = io.BytesIO()
    checkpoint = {"model_state_dict": model.state_dict(), "config": model.config.to_dict()}
    torch.save(checkpoint, buffer, _use_new_zipfile_serialization=False)  # the old, non-zip format
    old = buffer.getvalue()
    not_torch = "is not a checkpoint written by torch.save: "
    cases = {  # before: IndexError or struct.error, KeyError: 101, "pickles objects other than tensors"
        "old_truncated.pt": (old[:2000], "is truncated or damaged \\(2000 bytes\\)"),
        "old_half.pt": (old[: len(old) // 2], "is truncated or damaged"),
        "text.pt": (b"model weights: see the wiki\n", not_torch + "it starts like text"),
        "config.pt": (json.dumps({"model_type": "uruk_v2_ultra"}).encode(), not_torch + "it starts like JSON"),
        "empty.pt": (b"", not_torch + "it is empty"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(LegacyCheckpointError, match=f"{path} {message}"):
            UrukV2Ultra.from_legacy_checkpoint(path)


# 8. config.json without the fields that shape the weights -------------------------------------------------------
@pytest.mark.parametrize("removed", [["hidden_sizes", "depths"], ["depths"]])
def test_missing_config_fields_are_named(folders, tmp_path, removed):
    folder = _copy(folders, "v2_ultra", tmp_path)
    config = json.loads((folder / "config.json").read_text())
    for field in removed:
        del config[field]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=re.escape(f"{folder / 'config.json'} lacks the fields {removed}")):
        UrukV2Ultra.from_pretrained(folder)


# 9. A local folder that does not exist -----------------------------------------------------------------------------
def test_a_missing_local_folder_is_named(folders, tmp_path, capsys):
    for missing in (str(tmp_path / "no" / "such" / "model"), "./no_such_model"):
        with pytest.raises(FileNotFoundError, match=f"No model folder at {missing}"):  # was HFValidationError
            UrukV2Ultra.from_pretrained(missing)
    with pytest.raises(FileNotFoundError, match="has no subfolder 'v2_ultra'"):
        UrukV2Ultra.from_pretrained(folders / "ws5", subfolder="v2_ultra")
    status, err = _cli(["export", "onnx", str(tmp_path / "absent"), "--output", str(tmp_path / "o")], capsys)
    assert status == 2 and f"No model folder at {tmp_path / 'absent'}" in err


# 10. Empty images, empty batches, wrong array types --------------------------------------------------------------
def test_empty_and_mistyped_inputs_are_refused():
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny")).eval()
    processor = UrukGBufferProcessor.from_model_config(model.config)
    names = {entry["name"] for entry in model.config.input_buffers}
    buffers = {name: value for name, value in synthetic_gbuffer(8, 8).items() if name in names}
    with pytest.raises(ValueError, match="The buffers are 0x0 pixels x 1 frames"):  # was an error in F.pad
        processor({name: value[:0, :0] for name, value in buffers.items()})
    pixel_values = processor(buffers)["pixel_values"]
    with pytest.raises(ValueError, match="needs at least one frame of at least 1x1 pixels"):  # was pooling.py
        model(pixel_values[:0])
    with pytest.raises(ValueError, match="needs at least one frame"):
        model(pixel_values[..., :0, :0])
    with pytest.raises(TypeError, match="pixel_values is torch.float64, but UrukV2Ultra's weights are torch.float32"):
        model(pixel_values.double())
    with pytest.raises(TypeError, match="pixel_values must be a torch.Tensor, got numpy.ndarray"):
        model(pixel_values.numpy())


# 11. EXR files that are not EXR, or not whole ---------------------------------------------------------------------
def test_exr_reader_names_files_that_are_not_whole_exrs(tmp_path):
    layers = {"albedo": "albedo"}
    good = write_exr_gbuffer(tmp_path / "frame.exr", {"albedo": np.random.rand(16, 16, 3)})
    truncated = tmp_path / "truncated.exr"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UnreadableFileError, match=f"{truncated} is a truncated or damaged OpenEXR file"):
        read_exr_gbuffer(truncated, layers)
    png = tmp_path / "frame.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(png)
    with pytest.raises(UnreadableFileError, match=f"{png} is not an OpenEXR file: it is a PNG image"):
        read_exr_gbuffer(png, layers)  # was: read silently as an EXR
    text = tmp_path / "notes.exr"
    text.write_text("not an image")
    with pytest.raises(UnreadableFileError, match=f"{text} is not an OpenEXR file: it starts like text"):
        read_exr_gbuffer(text, layers)  # was: a raw Mitsuba error without the path


# 2 and 12. Dataset folders ----------------------------------------------------------------------------------------
def test_generate_refuses_a_folder_of_the_users_files(tmp_path, capsys):
    folder = tmp_path / "mine"
    (folder / "logs").mkdir(parents=True)
    (folder / "README.md").write_text("my notes")
    (folder / "baselines.json").write_text('{"mine": 1}')
    (folder / "examples.png").write_bytes(b"\x89PNG mine")
    (folder / "logs" / "chunk-00000.json").write_text("mine")
    before = _digest(folder)
    status, err = _cli(["data", "generate", "--preset", "tiny", "--output", str(folder), "--no-progress"], capsys)
    assert status == 2 and f"{folder} is not empty (README.md, baselines.json, examples.png, logs)" in err
    assert "--overwrite" in err and _digest(folder) == before
    summary = generate_gbuffer_dataset(folder, "tiny", progress=False, finalize=False, overwrite=True)  # asked for
    assert summary["complete"] and (folder / "generation.json").is_file()


@pytest.mark.parametrize("seed", ["-1", str(2**64), "2**8"])
def test_out_of_range_seeds_are_refused_before_anything_is_written(tmp_path, capsys, seed):
    status, err = _cli(
        ["data", "generate", "--preset", "tiny", "--output", str(tmp_path / "d"), f"--seed={seed}"], capsys
    )
    assert status == 2 and "argument --seed: must be" in err and not (tmp_path / "d").exists()


def test_a_foreign_chunk_is_named_on_resume_and_on_load(tiny_dataset, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from uruk_hf.training.data import UrukClipDataset

    folder = Path(shutil.copytree(tiny_dataset[0], tmp_path / "data"))
    record = json.loads((folder / "generation.json").read_text())
    chunk = record["splits"].index("train")
    foreign = chunk_path(folder, "train", chunk)
    pq.write_table(pa.table({"pixels": [1.0, 2.0]}), foreign)
    with pytest.raises(ValueError, match=f"{foreign} is not a chunk like the others"):  # was CastError on another
        UrukClipDataset(folder, "train", UrukV2UltraConfig.from_preset("tiny").input_buffers)
    arguments = ["data", "generate", "--preset", "tiny", "--output", str(folder), "--no-progress"]
    status, err = _cli([*arguments, "--variant", record["mitsuba_variant"]], capsys)
    assert status == 2 and f"{foreign} is not a chunk of this dataset: its columns differ" in err


def test_disk_full_is_one_line_and_leaves_the_data_whole(tiny_dataset, tmp_path, capsys, monkeypatch):
    from datasets.arrow_writer import ParquetWriter

    folder = Path(shutil.copytree(tiny_dataset[0], tmp_path / "data"))
    record = json.loads((folder / "generation.json").read_text())
    missing = chunk_path(folder, record["splits"][-1], len(record["splits"]) - 1)
    missing.unlink()
    leftover = missing.parent / f".{missing.name}.x1y2z3.partial"  # a 0-byte file a killed write left
    leftover.write_bytes(b"")
    before = _digest(folder / "data")
    del before[str(leftover.relative_to(folder / "data"))]

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ParquetWriter, "write_batch", no_space)
    arguments = ["data", "generate", "--preset", "tiny", "--output", str(folder), "--no-progress"]
    status, err = _cli([*arguments, "--variant", record["mitsuba_variant"]], capsys)
    assert status == 1 and f"Could not write {missing}: No space left on device" in err
    assert _digest(folder / "data") == before  # the leftover is gone, no new partial file, the rest untouched


def test_a_run_records_its_data_folder_so_that_it_is_found_from_anywhere(tmp_path, monkeypatch):
    from uruk_hf.file_utils import path_for_record, path_from_record

    run = tmp_path / "runs" / "quick"
    data, shared = run / "data", tmp_path / "shared_data"
    data.mkdir(parents=True)
    shared.mkdir()
    monkeypatch.chdir(tmp_path)
    assert path_for_record(Path("runs/quick/data"), Path("runs/quick")) == "data"  # inside the run: relative to it
    assert path_for_record(shared, run) == str(shared.resolve())  # elsewhere: absolute
    monkeypatch.chdir(tmp_path / "runs")  # read from another working directory
    assert path_from_record("data", Path("quick")).resolve() == data.resolve()
    assert path_from_record(str(shared.resolve()), Path("quick")) == shared.resolve()
    monkeypatch.chdir(tmp_path)  # an older record, relative to the directory its run was started in
    assert path_from_record("runs/quick/data", run).resolve() == data.resolve()
    with pytest.raises(FileNotFoundError, match="names missing, which is not there"):
        path_from_record("missing", run)


def test_a_run_folder_is_never_trained_over_and_resumes_as_it_was_started(tmp_path, capsys):
    """A fresh run refuses a folder that holds trained stages (a finished run is not lost to a forgotten
    `--resume`); a resumed one keeps the options it was started with unless given again, and refuses another seed
    or preset, under which its finished stages were not trained."""
    from uruk_hf.catalog import Family, TrainOption
    from uruk_hf.training.run import RUN_OPTIONS, run_lifecycle

    calls = []

    def record_call(data, output, preset, resume, seed=0, **options):
        calls.append(options)
        (output / "production").mkdir(exist_ok=True)
        (output / "production" / "record.json").write_text("{}")
        return {}

    options = (TrainOption("--time-scale", ""), TrainOption("--self-training-rounds", ""))
    family = Family("recorder", "Recorder", (), "block_structures", "unused:Task", record_call, options=options)
    run = tmp_path / "run"
    run_lifecycle(family, tmp_path, run, "tiny", False, seed=2, time_scale="12", self_training_rounds=None)
    recorded = json.loads((run / RUN_OPTIONS).read_text())
    assert recorded["seed"] == 2 and recorded["options"] == {"time_scale": "12", "self_training_rounds": None}
    assert recorded["started_by"] == "uruk train"

    with pytest.raises(FileExistsError, match="holds a run already .* pass --resume to continue it"):
        run_lifecycle(family, tmp_path, run, "tiny", False, seed=2)
    run_lifecycle(family, tmp_path, run, "tiny", True, seed=2, time_scale=None, self_training_rounds="12")
    assert calls[-1] == {"time_scale": "12", "self_training_rounds": "12"}  # kept, and given again
    run_lifecycle(family, tmp_path, run, "tiny", True, seed=2, started_by="uruk pipeline")
    assert calls[-1] == {"time_scale": "12", "self_training_rounds": "12"}
    assert json.loads((run / RUN_OPTIONS).read_text())["started_by"] == "uruk train"  # the run's start is kept
    for field, preset, seed in (("seed", "tiny", 0), ("preset", "quick", 2)):
        with pytest.raises(ValueError, match=f"run_options.json: this run was started with {field} "):
            run_lifecycle(family, tmp_path, run, preset, True, seed=seed)
    assert len(calls) == 3
    (run / RUN_OPTIONS).write_bytes(b"\x00\xff")
    with pytest.raises(ValueError, match="run_options.json is not a run's options record"):
        run_lifecycle(family, tmp_path, run, "tiny", True, seed=2)

    # Through the CLI: one line, exit status 2, the folder untouched.
    finished = tmp_path / "finished"
    (finished / "production").mkdir(parents=True)
    (finished / "lifecycle.json").write_text("{}")
    with pytest.raises(SystemExit) as stopped:
        main(["train", "ws8", "--data", str(tmp_path), "--output", str(finished), "--preset", "tiny"])
    assert stopped.value.code == 2 and "pass --resume to continue it" in capsys.readouterr().err
    assert sorted(path.name for path in finished.iterdir()) == ["lifecycle.json", "production"]
