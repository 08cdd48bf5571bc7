"""`uruk evaluate`: the renderers of a run and the baselines a practitioner would use, on the run's own test split
and on scenes no generator of ours made, at several resolutions, side by side.

    uruk evaluate --run PIPELINE_DIR [--sizes 64,128,256] [--model NAME=FOLDER ...]

The out-of-distribution set is `uruk_hf.data.rendering.handmade`: hand-written scenes rendered through the same
renderer as the training data (so every buffer follows the same conventions), once per size, into
`RUN/generalization/handmade_<size>` (reused by later calls). `--collection holdout` evaluates on the second,
held-out set of hand-written scenes instead (`RUN/generalization/holdout_<size>`, results in
`RUN/generalization_holdout.json`). Nothing in training or model selection reads either.
Every model is evaluated by its family's task (clips in order, history from the model's own previous output);
the baselines are the cheap `direct` render, the 1-spp path trace, Intel Open Image Denoise in each of its quality
modes on that 1-spp frame (with clean albedo and normal), the ground truth's own noise floor, and for materials the
per-pixel MLP (trained on the run's train split) and the majority class.
"""

import json
from pathlib import Path

import numpy as np

from .catalog import iter_families, model_entry_for_type
from .file_utils import atomic_path, path_from_record
from .tables import format_metric, format_table

__all__ = ["OOD_SIZES", "evaluate_generalization", "generalization_tables", "run_models"]

OOD_SIZES = (64, 128, 256)
"""Resolutions of the hand-made set: the training resolution of the quick preset, and two and four times it."""

_RENDERER_DATASET = "gbuffer_clips"


def run_models(run: str | Path) -> dict[str, Path]:
    """Every trained renderer of a `uruk pipeline` folder (families of the `gbuffer_clips` kind), by model key."""
    run = Path(run)
    return {
        model.key: run / model.run_folder
        for family in iter_families()
        if family.dataset_kind == _RENDERER_DATASET
        for model in family.models
        if (run / model.run_folder / "config.json").exists()
    }


def _model_metrics(folder: Path, sets: dict[str, Path]) -> dict[str, dict]:
    """`{"params", "sets": {set: metrics}}` of the model in `folder`, whichever registered family it belongs to."""
    from transformers import AutoConfig

    from .modeling_utils import check_model_source
    from .pipeline import evaluate_on_sets

    check_model_source(folder)
    family, entry = model_entry_for_type(AutoConfig.from_pretrained(folder).model_type)
    metrics = evaluate_on_sets(family, entry, folder, sets)
    params = next(iter(metrics.values())).get("params")
    return {
        "params": params,
        "sets": {name: {k: v for k, v in m.items() if k != "params"} for name, m in metrics.items()},
    }


def _material_baselines(data: Path) -> tuple:
    """The per-pixel MLP trained on `data`'s train split and the majority class of that split."""
    from .data.folder import load_split
    from .data.rendering.baselines import majority_material, train_per_pixel_mlp
    from .schema import MATERIAL_CLASSES

    mlp, _ = train_per_pixel_mlp(data, len(MATERIAL_CLASSES))
    labels = load_split(data, "train", ["material_label"])["material_label"]
    return mlp, majority_material(labels, len(MATERIAL_CLASSES))


def _baseline_metrics(data: Path, mlp, majority: int) -> dict[str, dict]:
    import torch

    from .data.folder import load_split
    from .data.rendering.baselines import (
        OIDN_QUALITIES,
        ground_truth_floor,
        oidn_frames,
        per_pixel_mlp_metrics,
        to_bchw,
    )
    from .metrics import frame_metrics, material_metrics, temporal_error

    rows = load_split(data, "test")
    order = np.lexsort((rows["frame_index"], rows["scene_id"]))
    rows = {name: value[order] for name, value in rows.items()}
    target = to_bchw(rows["ground_truth"])
    clip_length = int(np.max(np.unique(rows["scene_id"], return_counts=True)[1]))
    whole_clips = clip_length > 1 and len(target) % clip_length == 0

    def clips(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.reshape(-1, clip_length, *tensor.shape[1:])

    if whole_clips:
        motion, valid = clips(to_bchw(rows["motion"])), clips(to_bchw(rows["history_valid"]))
        ground_truth_temporal = temporal_error(clips(target), motion, valid)

    def with_temporal(prediction: torch.Tensor) -> dict[str, float]:
        """Frame metrics, plus the temporal error of `prediction` and of the ground truth over the clips."""
        metrics = frame_metrics(prediction, target)
        if whole_clips:
            metrics["temporal_error"] = temporal_error(clips(prediction), motion, valid)
            metrics["temporal_error_ground_truth"] = ground_truth_temporal
        return metrics

    baselines = {name: with_temporal(to_bchw(rows[name])) for name in ("direct", "path_1spp")}
    for quality in OIDN_QUALITIES:
        denoised, ms_per_frame = oidn_frames(rows, quality)
        baselines[f"oidn_{quality}"] = {**with_temporal(to_bchw(denoised)), "ms_per_frame": ms_per_frame}
    floor = ground_truth_floor(rows)
    if floor is not None:
        baselines["gt_floor"] = floor
    labels = rows["material_label"].astype(np.int64)
    labelled = labels[labels >= 0]
    baselines["per_pixel_mlp"] = per_pixel_mlp_metrics(mlp, rows)
    baselines["majority"] = material_metrics(np.full(labelled.shape, majority), labelled, mlp.layers[-1].out_features)
    return baselines


def _run_data(run: Path) -> Path:
    """The renderers' dataset of a pipeline folder: the one its `results.json` names (`--data`; a path inside the
    run is recorded relative to it, `file_utils.path_for_record`), else `RUN/data`."""
    results = run / "results.json"
    if results.exists():
        recorded = json.loads(results.read_text()).get("data", {}).get(_RENDERER_DATASET)
        if recorded:
            return path_from_record(recorded, run)
    return run / "data"


_SCENE_FOLDERS = {"evaluation": "handmade", "holdout": "holdout"}
"""The folder name (before `_<size>`) of each collection's rendered sets."""


def _set_name(size: int) -> str:
    return f"ood_{size}"


def evaluate_generalization(
    run: str | Path | None = None,
    data: str | Path | None = None,
    models: dict[str, str | Path] | None = None,
    sizes: tuple[int, ...] = OOD_SIZES,
    scenes_root: str | Path | None = None,
    ground_truth_spp: int = 256,
    output: str | Path | None = None,
    collection: str = "evaluation",
) -> dict:
    """Evaluates renderers and baselines on the test split of `data` and on the hand-made scenes at `sizes`.

    Args:
        run: a `uruk pipeline` folder: its renderers (`run_models`), its data (the dataset its `results.json`
            names, else `RUN/data`) and where the hand-made sets and the results go, unless the arguments below say
            otherwise.
        data: the dataset whose test split is the in-distribution reference (its train split trains the
            per-pixel MLP baseline).
        models: more models to evaluate, `{name: Hub-format folder}` (any registered renderer family).
        sizes: square resolutions of the hand-made set.
        scenes_root: where the rendered hand-made sets are kept (default `RUN/generalization`).
        ground_truth_spp: samples per pixel of the hand-made set's ground truth.
        output: the results JSON (default `RUN/generalization.json`, `RUN/generalization_<collection>.json` for
            another collection).
        collection: which hand-written scenes (`uruk_hf.data.rendering.handmade.HANDMADE_COLLECTIONS`):
            `evaluation` (`HANDMADE_SCENES`, kept in `handmade_<size>`) or `holdout` (`HOLDOUT_SCENES`, in
            `holdout_<size>`); their sets are named `ood_<size>` either way.

    Returns `{"sets": {set: folder}, "collection", "sizes", "test_size", "ground_truth_spp", "models": {key:
    {"params", "sets": {set: metrics}}}, "baselines": {key: {set: metrics}}}`, with sets `test` and `ood_<size>`
    (`test_size`: the test split's square frame size, or `None`).

    Raises:
        ValueError: neither `run` nor the folders it would stand for are given, or there is no model to evaluate.
    """
    from .data.rendering.handmade import HANDMADE_COLLECTIONS, render_handmade_set

    if collection not in HANDMADE_COLLECTIONS:
        raise ValueError(f"Unknown collection {collection!r}; choose from {list(HANDMADE_COLLECTIONS)}.")
    run = None if run is None else Path(run)
    if run is None and (data is None or scenes_root is None):
        raise ValueError("Pass a pipeline folder (--run), or both --data and --scenes.")
    data = Path(data) if data is not None else _run_data(run)
    scenes_root = Path(scenes_root) if scenes_root is not None else run / "generalization"
    default_output = "generalization.json" if collection == "evaluation" else f"generalization_{collection}.json"
    output = Path(output) if output is not None else (run / default_output if run else None)
    if not (data / "generation.json").exists():
        raise ValueError(f"{data} is not a dataset folder made by `uruk data generate` (no generation.json).")
    folders = {**(run_models(run) if run else {}), **{key: Path(folder) for key, folder in (models or {}).items()}}
    for key, folder in folders.items():
        if not (folder / "config.json").exists():
            raise ValueError(f"Model {key!r}: {folder} has no config.json (not a Hub-format model folder).")
    if not folders:
        raise ValueError(f"No trained renderer in {run} and none given with --model.")
    sets = {"test": data}
    for size in sizes:
        folder = scenes_root / f"{_SCENE_FOLDERS[collection]}_{size}"
        sets[_set_name(size)] = render_handmade_set(folder, size, ground_truth_spp, collection=collection)
    mlp, majority = _material_baselines(data)
    results = {
        "sets": {name: str(folder) for name, folder in sets.items()},
        "collection": collection,
        "sizes": list(sizes),
        "test_size": _square_size(data),
        "ground_truth_spp": ground_truth_spp,
        "models": {key: _model_metrics(folder, sets) for key, folder in folders.items()},
        "baselines": {},
    }
    for name, folder in sets.items():
        for key, metrics in _baseline_metrics(folder, mlp, majority).items():
            results["baselines"].setdefault(key, {})[name] = metrics
    if output is not None:
        with atomic_path(output) as temporary:
            temporary.write_text(json.dumps(results, indent=2))
    return results


def _temporal_ratio(metrics: dict) -> float | None:
    if "temporal_error" not in metrics or not metrics.get("temporal_error_ground_truth"):
        return None
    return metrics["temporal_error"] / metrics["temporal_error_ground_truth"]


def generalization_tables(results: dict) -> str:
    """The results of `evaluate_generalization` as plain-text tables: PSNR and FLIP per set with the gap between
    the test split and the hand-made set at the test split's resolution, material accuracy and mIoU per set, and
    temporal error as a multiple of the ground truth's."""
    set_names = list(results["sets"])
    ood = [name for name in set_names if name != "test"]
    rows = {key: entry["sets"] for key, entry in results["models"].items()}
    rows.update(results["baselines"])
    params = {key: entry["params"] for key, entry in results["models"].items()}
    # The gap and the gain are read where the hand-made set was rendered at the test split's size.
    test_size = results.get("test_size") if results.get("test_size") in results["sizes"] else None

    def metric(key, name, field):
        return rows[key].get(name, {}).get(field)

    headers = ["model", "params", *(f"PSNR {name}" for name in set_names)]
    headers += ["test - ood (dB)", f"ood gain {test_size}->{2 * test_size}"] if test_size else []
    headers += [f"FLIP {name}" for name in set_names]
    frame_rows = []
    for key in rows:
        if metric(key, "test", "psnr") is None and not any(metric(key, name, "psnr") for name in ood):
            continue
        cells = [key, f"{params[key] / 1e6:.2f}M" if key in params else "-"]
        cells += [format_metric("psnr", metric(key, name, "psnr")) for name in set_names]
        if test_size:
            native, doubled = metric(key, _set_name(test_size), "psnr"), metric(key, _set_name(2 * test_size), "psnr")
            test = metric(key, "test", "psnr")
            cells.append("-" if native is None or test is None else f"{test - native:+.2f}")
            cells.append("-" if native is None or doubled is None else f"{doubled - native:+.2f}")
        cells += [format_metric("flip", metric(key, name, "flip")) for name in set_names]
        frame_rows.append(cells)
    material_headers = ["model", *(f"{field} {name}" for name in set_names for field in ("acc %", "mIoU %"))]
    material_rows = [
        [key]
        + [
            format_metric(field, metric(key, name, field))
            for name in set_names
            for field in ("material_accuracy", "material_miou")
        ]
        for key in rows
        if any(metric(key, name, "material_accuracy") is not None for name in set_names)
    ]
    ratios = {key: [_temporal_ratio(rows[key].get(name, {})) for name in set_names] for key in rows}
    temporal_rows = [
        [key] + ["-" if ratio is None else f"{ratio:.2f}x" for ratio in values]
        for key, values in ratios.items()
        if any(ratio is not None for ratio in values)
    ]
    return "\n\n".join(
        [
            "Frames (PSNR higher is better, FLIP lower is better):\n" + format_table(headers, frame_rows),
            "Materials (labelled pixels):\n" + format_table(material_headers, material_rows),
            "Temporal error as a multiple of the ground truth's (1.00x = as stable as the reference):\n"
            + format_table(["model", *set_names], temporal_rows),
        ]
    )


def _square_size(data: Path) -> int | None:
    """The frame size of a generated dataset when its frames are square, from its `generation.json`."""
    render = json.loads((data / "generation.json").read_text()).get("preset", {}).get("render", {})
    return int(render["width"]) if render.get("width") and render.get("width") == render.get("height") else None
