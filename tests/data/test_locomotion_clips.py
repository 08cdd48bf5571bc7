"""The procedural locomotion animator and the `locomotion_clips` dataset kind at the tiny preset."""

import json

import numpy as np
import pytest

from uruk_hf.data.folder import generate_dataset
from uruk_hf.data.gait.animator import GAITS, ClipSettings, animate_clip
from uruk_hf.data.gait.generator import LOCOMOTION_CLIPS
from uruk_hf.data.gait.motion import MotionMatching, pose_error_degrees
from uruk_hf.data.gait.skeleton import FEET, JOINT_NAMES, forward_kinematics, matrices_from_sixd, sixd_from_matrices


def test_clips_are_deterministic_and_stand_on_the_ground():
    first, second = animate_clip(3, ClipSettings(frames=300)), animate_clip(3, ClipSettings(frames=300))
    assert all(np.array_equal(first[key], second[key]) for key in first)
    assert first["rotations"].shape == (300, len(JOINT_NAMES), 6) and first["blend"].shape == (300, len(GAITS))
    matrices = matrices_from_sixd(first["rotations"].astype(np.float64))
    np.testing.assert_allclose(sixd_from_matrices(matrices), first["rotations"], atol=1e-5)  # rotations, not shears
    positions = forward_kinematics(matrices, first["root_position"], first["root_yaw"])
    legs = positions[:, :1, 1] - positions[:, FEET, 1]  # pelvis above each foot
    assert legs.min() > 0.25 and legs.max() < 0.895  # a running swing lifts the foot; a leg never stretches
    head = positions[:, JOINT_NAMES.index("head"), 1] - positions[:, 0, 1]
    assert head.min() > 0.4  # the torso stays upright
    np.testing.assert_allclose(first["blend"].sum(-1), 1.0, atol=1e-5)  # a blend of gaits, weights summing to one


def test_motion_matching_replays_a_clip_it_holds():
    clip = animate_clip(5, ClipSettings(frames=240))
    matching = MotionMatching([clip], search_interval=10)
    assert pose_error_degrees(matching.rollout(clip), clip["rotations"]) < 0.5
    assert matching.nbytes > clip["rotations"].nbytes


@pytest.fixture(scope="module")
def locomotion(tmp_path_factory):
    folder = tmp_path_factory.mktemp("locomotion")
    return folder, generate_dataset(LOCOMOTION_CLIPS, folder, "tiny", seed=0, progress=False)


def test_dataset_has_its_card_and_baselines(locomotion):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    folder, summary = locomotion
    assert summary["complete"]
    row = load_dataset(str(folder))["test"].with_format("numpy")[0]
    assert row["rotations"].shape == (240, 22, 6) and row["contacts"].dtype == bool
    assert "not motion capture" in DatasetCard.load(folder / "README.md").text
    baselines = json.loads((folder / "baselines.json").read_text())["baselines"]
    assert set(baselines) == set(LOCOMOTION_CLIPS.report_baselines)
    copy, extrapolate = baselines["copy_previous_pose"], baselines["constant_velocity"]
    assert extrapolate["one_step_error_degrees"] < copy["one_step_error_degrees"]
    assert baselines["motion_matching"]["rollout_error_degrees"] < copy["rollout_error_degrees"]
    assert baselines["motion_matching"]["memory_mb"] > 0 and baselines["procedural_animator"]["foot_skate_cm"] > 0
