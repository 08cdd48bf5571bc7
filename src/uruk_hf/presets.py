"""The one preset vocabulary (DESIGN §1), for model configs, data, training and the pipeline."""

__all__ = ["PRESET_NAMES"]

PRESET_NAMES = ("tiny", "quick", "full")
"""`tiny` for tests (seconds), `quick` for a 2-core CPU (the main job), `full` for the published sizes (a GPU)."""
