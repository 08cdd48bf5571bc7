"""Dataset generation at the tiny preset: layout, determinism, splits, shards, resume and errors."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from uruk_hf.cli import main
from uruk_hf.data.folder import chunk_splits
from uruk_hf.data.rendering.generator import DATA_PRESETS, STORED_BUFFERS, centre_crop
from uruk_hf.data.rendering.generator import generate_gbuffer_dataset as generate_dataset
from uruk_hf.data.rendering.scenes import generate_scene

from ..accelerate_launch import TWO_CPU_PROCESSES


def _arrays(folder):
    """Every column of every chunk, keyed by file name, as numpy arrays."""
    arrays = {}
    for path in sorted((folder / "data").glob("*.parquet")):
        dataset = load_dataset("parquet", data_files=str(path), split="train").with_format("numpy")
        arrays[path.name] = {name: np.asarray(dataset[name]) for name in dataset.column_names}
    return arrays


def _generate_arguments(output) -> list[str]:
    """`-m uruk_hf.cli data generate` of the tiny preset into `output`, for `python` or `accelerate launch`."""
    return ["-m", "uruk_hf.cli", "data", "generate", "--preset", "tiny", "--output", str(output), "--no-progress"]


@pytest.fixture(scope="module")
def tiny(tiny_dataset):
    return tiny_dataset


def test_folder_loads_with_datasets_and_has_a_card(tiny, tmp_path):
    folder, summary = tiny
    assert summary["complete"] and summary["frames_written"] == DATA_PRESETS["tiny"].num_frames
    # A cache of its own: `datasets` keys its cache by the folder's path, which pytest reuses across sessions.
    dataset = load_dataset(str(folder), cache_dir=str(tmp_path / "datasets_cache"))
    assert set(dataset) == {"train", "validation", "test"}
    assert sum(len(split) for split in dataset.values()) == DATA_PRESETS["tiny"].num_frames
    features = dataset["test"].features
    assert (features["albedo"].shape, features["albedo"].dtype) == ((24, 24, 3), "float16")
    assert (features["material_label"].shape, features["material_label"].dtype) == ((24, 24), "int16")
    row = dataset["test"].with_format("numpy")[0]
    assert row["albedo"].shape == (24, 24, 3) and row["has_independent_ground_truth"]
    assert set(STORED_BUFFERS) <= set(dataset["train"].column_names) and "history" not in dataset["train"].column_names
    card = DatasetCard.load(folder / "README.md")
    assert card.data.configs[0]["config_name"] == "default"
    assert summary["variant"] in card.text and "## Baselines" in card.text
    baselines = json.loads((folder / "baselines.json").read_text())["baselines"]
    assert {"direct", "path_1spp", "oidn", "gt_floor", "per_pixel_mlp", "majority", "material_id_lookup"} <= set(
        baselines
    )
    assert baselines["path_1spp"]["psnr"] < baselines["gt_floor"]["psnr"]
    assert (folder / "examples.png").stat().st_size > 0


def test_splits_share_no_scene(tiny):
    folder, _ = tiny
    dataset = load_dataset(str(folder))
    scenes = {split: set(dataset[split]["scene_id"]) for split in dataset}
    assert not scenes["train"] & scenes["validation"] and not scenes["train"] & scenes["test"]
    assert not scenes["validation"] & scenes["test"]
    assert chunk_splits(DATA_PRESETS["quick"], 0).count("test") == 4


def test_crop_scales_are_drawn_per_clip_without_changing_the_scene():
    """Each clip's crop scale is its own draw: reproducible, spread over the preset's scales in their shares, and
    the scene (camera path, objects; the field of view before the crop) the same as without crops."""
    preset = replace(DATA_PRESETS["quick"], crop_scales=(1.0, 1.0, 1.5, 2.0))
    scales = [preset.crop_scale(0, clip) for clip in range(preset.num_clips)]
    assert scales == [preset.crop_scale(0, clip) for clip in range(preset.num_clips)]
    assert 0.4 < scales.count(1.0) / len(scales) < 0.6 and {1.5, 2.0} <= set(scales)
    assert {DATA_PRESETS["quick"].crop_scale(0, clip) for clip in range(preset.num_clips)} == {1.0}
    scene = generate_scene(0, 3, 4)
    cropped = centre_crop(scene, 2.0)
    assert np.array_equal(cropped.camera_origins, scene.camera_origins) and cropped.objects is scene.objects
    assert np.isclose(np.tan(np.radians(cropped.fov) / 2), np.tan(np.radians(scene.fov) / 2) / 2)


def test_a_cropped_preset_object_generates_and_says_so_in_its_card(tiny, tmp_path):
    """A preset object with crop scales goes through `generate_dataset` as it is: recorded in generation.json,
    named in the card, and its frames are the narrowed views, not the uncropped ones."""
    preset = replace(DATA_PRESETS["tiny"], crop_scales=(2.0,))
    generate_dataset(tmp_path / "cropped", preset, seed=0, progress=False)
    record = json.loads((tmp_path / "cropped" / "generation.json").read_text())
    assert record["preset"]["crop_scales"] == [2.0]
    # Uncropped folders keep the record they had before crops existed, so earlier folders still resume.
    assert "crop_scales" not in json.loads((tiny[0] / "generation.json").read_text())["preset"]
    assert "2x for 100% of the clips" in (tmp_path / "cropped" / "README.md").read_text()
    cropped, uncropped = _arrays(tmp_path / "cropped"), _arrays(tiny[0])
    name = sorted(cropped)[0]
    assert cropped[name]["scene_id"].tolist() == uncropped[name]["scene_id"].tolist()
    assert not np.array_equal(cropped[name]["albedo"], uncropped[name]["albedo"])


@pytest.mark.slow
def test_same_seed_gives_byte_identical_arrays(tiny, tmp_path):
    folder, summary = tiny
    generate_dataset(tmp_path, "tiny", seed=0, progress=False, finalize=False, variant=summary["variant"])
    first, second = _arrays(folder), _arrays(tmp_path)
    assert first.keys() == second.keys()
    for name in first:
        for column in first[name]:
            assert np.array_equal(first[name][column], second[name][column]), (name, column)


def test_shards_split_the_work_without_overlap(tiny, tmp_path):
    folder, summary = tiny
    written = []
    for index in (1, 0):
        result = generate_dataset(
            tmp_path,
            "tiny",
            seed=0,
            num_shards=2,
            shard_index=index,
            progress=False,
            finalize=False,
            variant=summary["variant"],
        )
        written.append(result["chunks_written"])
    assert written == [3, 3] and result["complete"]
    assert sorted(p.name for p in (tmp_path / "data").glob("*.parquet")) == sorted(
        p.name for p in (folder / "data").glob("*.parquet")
    )


@pytest.mark.slow
def test_resume_after_kill_skips_finished_chunks(tiny, tmp_path):
    """kill -9 mid-run, rerun: finished chunks are kept, the set completes, no partial file ever loads."""
    _, summary = tiny
    env = {**os.environ, "URUK_MITSUBA_VARIANT": summary["variant"]}
    command = [sys.executable, *_generate_arguments(tmp_path)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path / "data").glob("*.parquet"))) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "data").glob("*.parquet")}
    assert 2 <= len(done) < 6
    (tmp_path / "data" / ".train-00099.parquet.abc.partial").write_bytes(b"PAR1 half")  # a torn write
    result = generate_dataset(tmp_path, "tiny", seed=0, progress=False, finalize=False, variant=summary["variant"])
    assert result["complete"] and result["chunks_skipped"] == len(done)
    assert all((tmp_path / "data" / name).stat().st_mtime_ns == mtime for name, mtime in done.items())
    dataset = load_dataset(str(tmp_path / "data"))  # split names come from the file names; the torn file is skipped
    assert sum(len(split) for split in dataset.values()) == DATA_PRESETS["tiny"].num_frames


def test_other_settings_in_the_same_folder_are_refused(tiny):
    folder, summary = tiny
    with pytest.raises(ValueError, match="generated with other settings \\(seed, splits differ\\)"):
        generate_dataset(folder, "tiny", seed=1, progress=False, variant=summary["variant"])


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["--preset", "huge"], "invalid choice: 'huge'"),
        (["--num-shards", "2", "--shard-index", "2"], "--shard-index 2 is out of range for --num-shards 2"),
        (["--shard-index", "-1"], "--shard-index -1 is out of range"),
    ],
)
def test_bad_arguments_are_named(tmp_path, capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "generate", "--output", str(tmp_path / "out"), *arguments])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(SystemExit):
        main(["data", "generate", "--preset", "tiny", "--output", str(blocker / "sub")])
    assert "is not writable" in capsys.readouterr().err
    with pytest.raises(ValueError, match="Unknown data preset 'huge'"):
        generate_dataset(tmp_path / "x", "huge")


@pytest.mark.slow
def test_accelerate_launch_splits_chunks_between_two_processes(tiny, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` on a CPU-only machine: two gloo processes, half each."""
    _, summary = tiny
    env = {**os.environ, "URUK_MITSUBA_VARIANT": summary["variant"]}
    command = [*TWO_CPU_PROCESSES, *_generate_arguments(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    shards = sorted(line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("shard"))
    assert shards == ["shard 0/2", "shard 1/2"]
    assert "wrote 3 chunks" in result.stdout and (tmp_path / "README.md").is_file()
