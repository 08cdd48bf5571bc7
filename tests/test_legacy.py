"""Seed-style `.pt` checkpoints: the seed card's snippet, and every way a file can be wrong."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from uruk_hf import (
    LegacyCheckpointError,
    UrukV2Optimized,
    UrukV2Ultra,
    UrukV2UltraConfig,
    UrukWS5CinematicConfig,
    UrukWS5CinematicRenderer,
    load_legacy_checkpoint,
)

SEED_SNIPPET = textwrap.dedent(
    """
    import torch

    # Load a checkpoint
    checkpoint = torch.load("v2_ultra/v2_ultra_global_best.pt", map_location="cpu")
    model_state = checkpoint["model_state_dict"]
    """
)


@pytest.fixture
def student():
    torch.manual_seed(0)
    return UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny")).eval()


@pytest.mark.parametrize("filename", ["v2_ultra_global_best.pt", "v2_ultra_best_stage1.pt"])
def test_seed_snippet_runs_unchanged_on_our_files(tmp_path, student, filename):
    optimizer = torch.optim.Adam(student.parameters())
    extra = {"optimizer_state_dict": optimizer.state_dict(), "stage": 1} if "stage" in filename else {}
    student.save_legacy_checkpoint(tmp_path / "v2_ultra" / filename, epoch=3, metrics={"psnr": 28.0}, **extra)
    snippet = SEED_SNIPPET.replace("v2_ultra_global_best.pt", filename)
    check = snippet + "\nassert set(checkpoint) >= {'model_state_dict', 'config', 'stage', 'epoch', 'metrics'}\n"
    check += "print(len(model_state), checkpoint['config']['model_type'])\n"
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(len(student.state_dict())), "uruk_v2_ultra"]


def test_refused_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"model_state_dict": {}, "config": {"model_type": "uruk_v2_ultra"}, "payload": Payload()}, path)
    with pytest.raises(LegacyCheckpointError, match="refused by torch.load\\(weights_only=True\\) and not executed"):
        UrukV2Ultra.from_legacy_checkpoint(path)
    assert not marker.exists()


def test_truncated_file(tmp_path, student):
    path = student.save_legacy_checkpoint(tmp_path / "ok.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(LegacyCheckpointError, match="truncated.pt is truncated or damaged"):
        UrukV2Ultra.from_legacy_checkpoint(truncated)
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        load_legacy_checkpoint(tmp_path / "absent.pt")


def test_wrong_family(tmp_path):
    ws5 = UrukWS5CinematicRenderer(UrukWS5CinematicConfig.from_preset("tiny"))
    path = ws5.save_legacy_checkpoint(tmp_path / "ws5.pt")
    with pytest.raises(LegacyCheckpointError, match="holds a 'uruk_ws5_cinematic' checkpoint, not 'uruk_v2_ultra'"):
        UrukV2Ultra.from_legacy_checkpoint(path)
    with pytest.raises(LegacyCheckpointError, match="not 'uruk_v2_optimized'"):
        UrukV2Optimized.from_legacy_checkpoint(path)


def test_missing_and_unexpected_keys(tmp_path, student):
    state = student.state_dict()
    first = next(iter(state))
    state_missing = {k: v for k, v in state.items() if k != first}
    path = tmp_path / "missing.pt"
    torch.save({"model_state_dict": state_missing, "config": student.config.to_dict()}, path)
    with pytest.raises(LegacyCheckpointError, match=f"missing keys \\['{first}'\\], unexpected keys \\[\\]"):
        UrukV2Ultra.from_legacy_checkpoint(path)
    torch.save(
        {"model_state_dict": {**state, "extra.weight": torch.zeros(1)}, "config": student.config.to_dict()}, path
    )
    with pytest.raises(LegacyCheckpointError, match="unexpected keys \\['extra.weight'\\]"):
        UrukV2Ultra.from_legacy_checkpoint(path)
    torch.save({"config": student.config.to_dict()}, path)
    with pytest.raises(LegacyCheckpointError, match="lacks the checkpoint keys \\['model_state_dict'\\]"):
        UrukV2Ultra.from_legacy_checkpoint(path)
    teacher_config = UrukV2UltraConfig.from_preset("tiny", role="teacher").to_dict()
    torch.save({"model_state_dict": state, "config": teacher_config}, path)
    with pytest.raises(LegacyCheckpointError, match="does not fit its config"):
        UrukV2Ultra.from_legacy_checkpoint(path)


def test_interrupted_write_leaves_no_file(tmp_path, student, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        student.save_legacy_checkpoint(tmp_path / "best.pt")
    assert list(tmp_path.iterdir()) == []
