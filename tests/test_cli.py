import shutil
import subprocess

import pytest

from uruk_hf.catalog import iter_models
from uruk_hf.cli import main

PUBLISHED_MODELS = [model for _, model in iter_models(published_only=True)]


def test_models_lists_every_model_preset_and_budget(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for published in PUBLISHED_MODELS:
        rows = [line for line in lines if line.startswith(published.key + " ")]
        assert [row.split("|")[2].strip() for row in rows] == ["tiny", "quick", "full"]
        full = rows[-1].split("|")
        assert full[6].strip().startswith("yes") and full[7].strip() == published.subfolder


def test_demo_renders_every_model_to_png(tmp_path, capsys):
    assert (
        main(
            [
                "demo",
                "--preset",
                "tiny",
                "--output",
                str(tmp_path),
                "--height",
                "33",
                "--width",
                "47",
                "--repeats",
                "1",
            ]
        )
        == 0
    )
    written = sorted(path.name for path in tmp_path.iterdir())
    assert "v2_ultra_frame.png" in written and "v2_ultra_material_map.png" in written
    assert "ws5_student_frame.png" in written and "ws5_student_material_map.png" not in written
    image_kinds = ("gbuffer_clips", "relighting_pairs")  # the demo renders G-buffers
    renderers = [entry for family, entry in iter_models(published_only=True) if family.dataset_kind in image_kinds]
    expected = sum(1 + getattr(entry.config("tiny"), "use_material_head", False) for entry in renderers)
    assert len(written) == expected and "v2_ultra_ray_reconstruction_frame.png" in written
    assert "ws6_student_frame.png" in written and "ws4_remapper_frame.png" in written


@pytest.mark.skipif(shutil.which("uruk") is None, reason="console script not installed (pip install -e .)")
@pytest.mark.slow
def test_console_script():
    result = subprocess.run(["uruk", "models"], capture_output=True, text=True)
    assert result.returncode == 0 and "v2_ultra_teacher" in result.stdout
    result = subprocess.run(["uruk", "nonsense"], capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice" in result.stderr
