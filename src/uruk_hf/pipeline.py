"""`uruk pipeline`: the main job. Data, every registered family's lifecycle (and the control runs it adds), and
one evaluation of every model on the test split beside the data baselines.

    uruk pipeline --preset quick --output DIR [--families a,b]

Writes `DIR/data` (unless `--data` points at an existing dataset; a second dataset kind goes to `DIR/data_<kind>`),
one run folder per family and control run (`DIR/<family>`, see `uruk_hf.training.run`), `DIR/results.json`:
`{"models": {key: metrics}, "baselines": {kind: {key: metrics}}, "test_sets": {kind: {"split", "size",
"unit"}}, ...}`,
`DIR/training_curves.png` and the published repo folder `DIR/hub` (`uruk publish build`). Nothing here names a
family: the registry (`uruk_hf.catalog`) says what runs, in which order and where each model lies.
"""

import json
import time
from pathlib import Path

from .catalog import Family, dataset_kind, family_names, get_family, iter_families, resolve
from .file_utils import atomic_path, path_for_record
from .tables import format_table, metric_cells

__all__ = [
    "evaluate_on_sets",
    "evaluate_on_test",
    "plot_training_curves",
    "results_table",
    "run_pipeline",
    "select_families",
]


def select_families(names: list[str] | None) -> tuple[list[Family], list[str]]:
    """The families to run for `names` (default: every registered one), with the families they require added
    first, in registry order; returns them and the names that were added."""
    requested = family_names() if names is None else list(names)
    for name in requested:
        get_family(name)  # raises, naming the registered families, for an unknown name
    selected, added = set(requested), []
    pending = list(requested)
    while pending:
        for required in get_family(pending.pop()).requires:
            if required not in selected:
                selected.add(required)
                added.append(required)
                pending.append(required)
    return [family for family in iter_families() if family.name in selected], added


def evaluate_on_sets(
    family: Family, model_entry, model_folder: str | Path, sets: dict[str, str | Path]
) -> dict[str, dict[str, float]]:
    """Loads a Hub-format model folder once and evaluates it on the test split of every dataset folder of `sets`
    (`{name: folder}`) with its family's task (every metric, the slow ones included); each result has `params`."""
    model = model_entry.model_class.from_pretrained(model_folder).eval()
    task = family.make_task(model.config)
    params = sum(parameter.numel() for parameter in model.parameters())
    return {
        name: {**task.evaluate(model, task.dataset(data, "test"), full=True), "params": params}
        for name, data in sets.items()
    }


def evaluate_on_test(family: Family, model_entry, model_folder: str | Path, data: str | Path) -> dict[str, float]:
    """`evaluate_on_sets` on the test split of `data` alone."""
    return evaluate_on_sets(family, model_entry, model_folder, {"test": data})["test"]


def _validation_history(output: Path, folders: tuple[str, ...]) -> list[dict]:
    """The validation entries of consecutive stages, with `seconds` counted from the first stage's start."""
    entries, offset = [], 0.0
    for folder in folders:
        record = json.loads((output / folder / "record.json").read_text())
        for stage in record.get("stages", [record]):
            entries += [{**entry, "seconds": entry["seconds"] + offset} for entry in stage["history"]]
            offset = entries[-1]["seconds"] if entries else offset
    return entries


def plot_training_curves(output: str | Path, families: list[Family], reference: tuple[str, float] | None = None):
    """Plots every model's validation curves against training seconds from the stage records, one panel per
    metric its task draws (`Task.curve_metrics`: PSNR and material mIoU for the renderers, state and
    transition-tick accuracy for NPC Director); `reference` (name, value) draws a baseline line on the first panel.
    Writes and returns `output/training_curves.png`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    output = Path(output)
    panels = {}
    for family in families:
        for key, label in resolve(family.task).curve_metrics:
            panels.setdefault(key, label)
    figure, axes = pyplot.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    axis_of = dict(zip(panels, axes[0]))
    for family in families:
        for model in family.models:
            if not model.curve:
                continue
            history = _validation_history(output, model.curve)
            seconds = [entry["seconds"] for entry in history]
            for key, _ in resolve(family.task).curve_metrics:
                if key in history[0]:
                    scale = 100.0 if "accuracy" in key or "miou" in key else 1.0
                    axis_of[key].plot(seconds, [scale * entry[key] for entry in history], marker=".", label=model.key)
    if reference is not None and panels:
        axes[0][0].axhline(reference[1], color="gray", linestyle="--", label=reference[0])
    for key, axis in axis_of.items():
        axis.set(xlabel="training seconds", ylabel=panels[key])
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    figure.tight_layout()
    path = output / "training_curves.png"
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    pyplot.close(figure)
    return path


def _datasets(output: Path, families: list[Family], preset: str, data: Path | None) -> dict[str, Path]:
    """The dataset folder of every dataset kind the families read, generated unless a finished one (with its
    baselines) is there. `data`, when given, is the folder of the kind its generation record names."""
    folders = {}
    if data is not None:
        record = json.loads((Path(data) / "generation.json").read_text())
        folders[record.get("dataset_kind", "gbuffer_clips")] = Path(data)
    for family in families:
        if family.dataset_kind not in folders:
            folders[family.dataset_kind] = output / ("data" if not folders else f"data_{family.dataset_kind}")
    for kind, folder in folders.items():
        if not (folder / "baselines.json").is_file():
            from .data.folder import generate_dataset

            generate_dataset(dataset_kind(kind), folder, preset=preset)
    return folders


def run_pipeline(
    output: str | Path,
    preset: str = "quick",
    data: str | Path | None = None,
    resume: bool = False,
    publish: bool = True,
    families: list[str] | None = None,
    seed: int = 0,
):
    """Runs the main job into `output` and returns the results (also `output/results.json`).

    Args:
        output: the pipeline folder.
        preset: data and model size (`tiny`, `quick`; `full` is for a GPU).
        data: an existing dataset folder to reuse instead of generating `output/data`.
        resume: reuse finished stages of an earlier, interrupted run into the same `output`.
        publish: end with the exported, carded repo folder `output/hub` (`uruk publish build`).
        families: the registered families to run (default: all); the families they require run first.
        seed: the training seed of every family (the data do not change with it).
    """
    import torch

    from .training.run import run_lifecycle

    output = Path(output)
    started = time.perf_counter()
    seconds = {}
    selected, added = select_families(families)

    def timed(name, function, *args, **kwargs):
        begin = time.perf_counter()
        result = function(*args, **kwargs)
        seconds[name] = time.perf_counter() - begin
        return result

    folders = timed("data", _datasets, output, selected, preset, None if data is None else Path(data))
    for family in selected:
        data_folder = folders[family.dataset_kind]
        options = resolve(family.pipeline_options)(output) if family.pipeline_options is not None else {}
        record = timed(
            family.name,
            run_lifecycle,
            family,
            data_folder,
            output / family.name,
            preset,
            resume,
            seed=seed,
            started_by="uruk pipeline",
            **options,
        )
        for control in family.controls:
            timed(control.name, resolve(control.train), data_folder, output / control.name, preset, resume, record)

    begin = time.perf_counter()
    models, baselines, test_sets = {}, {}, {}
    for family in selected:
        data_folder = folders[family.dataset_kind]
        for model in family.models:
            metrics = evaluate_on_test(family, model, output / model.run_folder, data_folder)
            models[model.key] = {name: value for name, value in metrics.items() if isinstance(value, int | float)}
    for kind, folder in folders.items():
        recorded = json.loads((folder / "baselines.json").read_text())
        baselines[kind] = {key: recorded["baselines"][key] for key in dataset_kind(kind).report_baselines}
        unit = recorded.get("unit") or ("frames" if "frames" in recorded else "ticks")
        test_sets[kind] = {"split": recorded["split"], "size": recorded[unit], "unit": unit}
    seconds["evaluation"] = time.perf_counter() - begin
    first = test_sets[selected[0].dataset_kind]
    results = {
        "families": [family.name for family in selected],
        "added_families": added,
        "models": models,
        "baselines": baselines,
        "test_sets": test_sets,
        "split": first["split"],
        "frames": first["size"],
        "preset": preset,
        "seed": seed,
        "data": {kind: path_for_record(folder, output) for kind, folder in folders.items()},
        "seconds": {**seconds, "total": time.perf_counter() - started},
        "threads": torch.get_num_threads(),
        "roles": {model.key: model.role for family in selected for model in family.models},
    }
    with atomic_path(output / "results.json") as temporary:
        temporary.write_text(json.dumps(results, indent=2))
    plot_training_curves(output, selected, _reference_line(output, selected[0]))
    if publish:
        from .publish.build import build_hub_folder

        begin = time.perf_counter()
        results["manifest"] = build_hub_folder(output, output / "hub")["manifest"]
        results["seconds"]["publish"] = time.perf_counter() - begin
        results["seconds"]["total"] = time.perf_counter() - started
        with atomic_path(output / "results.json") as temporary:
            temporary.write_text(json.dumps(results, indent=2))
    return results


def _reference_line(output: Path, family: Family) -> tuple[str, float] | None:
    """The first family's gate baseline on the validation split (e.g. the cheap `direct` render) in the first
    panel's metric, for the curves."""
    task = resolve(family.task)
    baselines = json.loads((output / family.name / "lifecycle.json").read_text()).get("validation_baselines", {})
    key = task.curve_metrics[0][0] if task.curve_metrics else None
    metrics = baselines.get(task.gate_baseline, {})
    if key in metrics:
        scale = 100.0 if "accuracy" in key or "miou" in key else 1.0
        return f"{task.gate_baseline} (validation baseline)", scale * metrics[key]
    return None


def results_table(results: dict) -> str:
    """The pipeline's results: one plain-text table per dataset kind (its task's columns), models then baselines,
    each under a line naming the test set."""
    tables = []
    for kind, baselines in results["baselines"].items():
        families = [get_family(name) for name in results["families"] if get_family(name).dataset_kind == kind]
        task = resolve(families[0].task)
        keys = [key for key, _ in task.report_columns]
        rows = [
            metric_cells(model.key, results["models"][model.key], keys)
            for family in families
            for model in family.models
            if model.key in results["models"]
        ]
        rows += [metric_cells(name, metrics, keys) for name, metrics in baselines.items()]
        test = results["test_sets"][kind]
        title = f"{kind}: {test['split']} split, {test['size']} {test['unit']}"
        tables.append(title + "\n" + format_table(["model", "params", *(h for _, h in task.report_columns)], rows))
    return "\n\n".join(tables)
