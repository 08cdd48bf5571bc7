"""`uruk pipeline`: the main job. Data, every family's lifecycle, the from-scratch control, and one evaluation of
every model on the test split beside the data baselines.

    uruk pipeline --preset quick --output DIR

Writes `DIR/data` (unless `--data` points at an existing dataset), one run folder per family (`DIR/v2_ultra`,
`DIR/v2_ultra_scratch`, `DIR/v2_optimized`, `DIR/ws5`, see `uruk_hf.training.run`), `DIR/results.json`:
`{"models": {key: metrics}, "baselines": {key: metrics}, "split": "test", "frames": N, ...}`,
`DIR/training_curves.png` and the published repo folder `DIR/hub` (`uruk publish build`).
"""

import json
import time
from pathlib import Path

import torch

from .catalog import PUBLISHED_BY_KEY
from .file_utils import atomic_path

__all__ = [
    "BASELINE_KEYS",
    "MODEL_FOLDERS",
    "evaluate_on_test",
    "metric_cells",
    "plot_training_curves",
    "results_table",
    "run_pipeline",
]

MODEL_FOLDERS = {
    "v2_ultra_teacher": "v2_ultra/models/v2_ultra_teacher",
    "v2_ultra": "v2_ultra/models/v2_ultra",
    "v2_ultra_scratch": "v2_ultra_scratch/models/v2_ultra_scratch",
    "v2_optimized": "v2_optimized/models/v2_optimized",
    "ws5_cinematic_renderer": "ws5/models/ws5_cinematic_renderer",
    "ws5_student": "ws5/models/ws5_student",
}
"""Where each evaluated model lies in a pipeline folder (Hub format)."""

BASELINE_KEYS = ("direct", "path_1spp", "oidn", "per_pixel_mlp", "majority", "gt_floor")
"""The data baselines reported beside the models (from the dataset's `baselines.json`, test split)."""

_METRIC_KEYS = (
    "params",
    "psnr",
    "ssim",
    "ms_ssim",
    "flip",
    "material_accuracy",
    "material_miou",
    "temporal_error",
    "ms_per_frame",
)


def evaluate_on_test(model_folder: str | Path, data: str | Path, split: str = "test") -> dict[str, float]:
    """Loads a Hub-format model folder and evaluates it on `split` of the dataset `data` (clips in order, history
    from its own output): the pipeline's metric keys plus `frames` and the ground truth's temporal error."""
    from transformers import AutoModel

    from .processing_gbuffer import UrukGBufferProcessor
    from .training.data import UrukClipDataset
    from .training.evaluation import evaluate_renderer

    model = AutoModel.from_pretrained(model_folder).eval()
    processor = UrukGBufferProcessor.from_model_config(model.config)
    dataset = UrukClipDataset(data, split, model.config.input_buffers)
    metrics = evaluate_renderer(model, dataset, processor, flip=True)
    metrics["params"] = sum(parameter.numel() for parameter in model.parameters())
    metrics["frames"] = sum(len(clip) for clip in dataset.clips)
    return metrics


_CURVES = {
    "v2_ultra_teacher": ["v2_ultra/production"],
    "v2_ultra (distilled)": ["v2_ultra/distillation"],
    "v2_ultra_scratch": ["v2_ultra_scratch/scratch"],
    "v2_optimized": ["v2_optimized/rendering", "v2_optimized/material"],
    "ws5_cinematic_renderer": ["ws5/production"],
    "ws5_student": ["ws5/distillation"],
}
"""The stage records behind each training curve, in order (a distillation record holds its curriculum's stages)."""


def _validation_history(output: Path, folders: list[str]) -> list[dict]:
    """The validation entries of consecutive stages, with `seconds` counted from the first stage's start."""
    entries, offset = [], 0.0
    for folder in folders:
        record = json.loads((output / folder / "record.json").read_text())
        for stage in record.get("stages", [record]):
            entries += [{**entry, "seconds": entry["seconds"] + offset} for entry in stage["history"]]
            offset = entries[-1]["seconds"] if entries else offset
    return entries


def plot_training_curves(output: str | Path, direct_psnr: float | None = None) -> Path:
    """Plots validation PSNR (and material mIoU where a model predicts materials) against training seconds for
    every run of a pipeline folder, from the stage records; writes and returns `output/training_curves.png`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    output = Path(output)
    figure, (frame_axis, material_axis) = pyplot.subplots(1, 2, figsize=(13, 4.8))
    for label, folders in _CURVES.items():
        history = _validation_history(output, folders)
        seconds = [entry["seconds"] for entry in history]
        frame_axis.plot(seconds, [entry["psnr"] for entry in history], marker=".", label=label)
        if "material_miou" in history[0]:
            material_axis.plot(seconds, [100 * entry["material_miou"] for entry in history], marker=".", label=label)
    if direct_psnr is not None:
        frame_axis.axhline(direct_psnr, color="gray", linestyle="--", label="direct (cheap render)")
    frame_axis.set(xlabel="training seconds", ylabel="validation PSNR (dB)", title="Frame quality")
    material_axis.set(xlabel="training seconds", ylabel="validation material mIoU (%)", title="Materials")
    for axis in (frame_axis, material_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    path = output / "training_curves.png"
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    pyplot.close(figure)
    return path


def _dataset(data: Path, preset: str) -> dict:
    """Generates the dataset unless a finished one (with its baselines) is there; returns its generation record."""
    if not (data / "baselines.json").is_file():
        from .data.generate import generate_dataset

        generate_dataset(data, preset=preset)
    return json.loads((data / "generation.json").read_text())


def run_pipeline(
    output: str | Path,
    preset: str = "quick",
    data: str | Path | None = None,
    resume: bool = False,
    publish: bool = True,
):
    """Runs the main job into `output` and returns the results (also `output/results.json`).

    Args:
        output: the pipeline folder.
        preset: data and model size (`tiny`, `quick`; `full` is for a GPU).
        data: an existing dataset folder to reuse instead of generating `output/data`.
        resume: reuse finished stages of an earlier, interrupted run into the same `output`.
        publish: end with the exported, carded repo folder `output/hub` (`uruk publish build`).
    """
    from .training.run import train_family, train_student_from_scratch

    output = Path(output)
    started = time.perf_counter()
    seconds = {}

    def timed(name, function, *args, **kwargs):
        begin = time.perf_counter()
        result = function(*args, **kwargs)
        seconds[name] = time.perf_counter() - begin
        return result

    data = Path(data) if data is not None else output / "data"
    timed("data", _dataset, data, preset)
    v2_ultra = timed("v2_ultra", train_family, "v2_ultra", data, output / "v2_ultra", preset, resume=resume)
    distillation_seconds = v2_ultra["stages"]["distillation"]["seconds"]
    timed(
        "v2_ultra_scratch",
        train_student_from_scratch,
        "v2_ultra",
        data,
        output / "v2_ultra_scratch",
        learning_rate=v2_ultra["learning_rate"],
        time_s=distillation_seconds,
        preset=preset,
        resume=resume,
    )
    stage1 = output / "v2_ultra" / "distillation" / "stage1_best"
    timed(
        "v2_optimized",
        train_family,
        "v2_optimized",
        data,
        output / "v2_optimized",
        preset,
        resume=resume,
        init_from=stage1,
    )
    timed("ws5", train_family, "ws5", data, output / "ws5", preset, resume=resume)

    begin = time.perf_counter()
    models = {}
    for key, folder in MODEL_FOLDERS.items():
        metrics = evaluate_on_test(output / folder, data)
        models[key] = {name: metrics[name] for name in _METRIC_KEYS if name in metrics}
        models[key]["temporal_error_ground_truth"] = metrics.get("temporal_error_ground_truth")
        frames = metrics["frames"]
    seconds["evaluation"] = time.perf_counter() - begin
    recorded = json.loads((data / "baselines.json").read_text())
    results = {
        "models": models,
        "baselines": {key: recorded["baselines"][key] for key in BASELINE_KEYS},
        "split": recorded["split"],
        "frames": frames,
        "preset": preset,
        "data": str(data),
        "distillation_seconds": distillation_seconds,
        "seconds": {**seconds, "total": time.perf_counter() - started},
        "threads": torch.get_num_threads(),
        "roles": {key: PUBLISHED_BY_KEY[key].role for key in models if key in PUBLISHED_BY_KEY},
    }
    with atomic_path(output / "results.json") as temporary:
        temporary.write_text(json.dumps(results, indent=2))
    direct = json.loads((output / "v2_ultra" / "lifecycle.json").read_text())["validation_baselines"]["direct"]
    plot_training_curves(output, direct_psnr=direct["psnr"])
    if publish:
        from .publish.build import build_hub_folder

        begin = time.perf_counter()
        results["manifest"] = build_hub_folder(output, output / "hub")["manifest"]
        results["seconds"]["publish"] = time.perf_counter() - begin
        results["seconds"]["total"] = time.perf_counter() - started
        with atomic_path(output / "results.json") as temporary:
            temporary.write_text(json.dumps(results, indent=2))
    return results


_CELL_FORMATS = {
    "psnr": (1.0, 2),
    "ssim": (1.0, 4),
    "ms_ssim": (1.0, 4),
    "flip": (1.0, 4),
    "material_accuracy": (100.0, 1),
    "material_miou": (100.0, 1),
    "temporal_error": (1.0, 4),
    "ms_per_frame": (1.0, 1),
}
"""Scale and decimals of each metric in tables (fractions of pixels shown in percent)."""


def metric_cells(name: str, metrics: dict, keys: list[str], percent_sign: bool = False) -> list[str]:
    """One table row: `name`, the parameter count in millions and `keys` formatted by `_CELL_FORMATS` (`-` where
    a metric does not apply); `percent_sign` appends `%` to the percentages."""
    params = metrics.get("params")
    cells = [name, "-" if params is None else f"{params / 1e6:.2f}M"]
    for key in keys:
        value = metrics.get(key)
        scale, digits = _CELL_FORMATS[key]
        suffix = "%" if percent_sign and scale == 100.0 else ""
        cells.append("-" if value is None else f"{value * scale:.{digits}f}{suffix}")
    return cells


def results_table(results: dict) -> str:
    """The pipeline's results as one plain-text table: models, then baselines."""
    from .cli import format_table

    rows = [
        metric_cells(key, metrics, list(_CELL_FORMATS))
        for group in ("models", "baselines")
        for key, metrics in results[group].items()
    ]
    headers = ["model", "params", "PSNR", "SSIM", "MS-SSIM", "FLIP", "mat acc %", "mIoU %", "temporal", "ms/frame"]
    return format_table(headers, rows)
