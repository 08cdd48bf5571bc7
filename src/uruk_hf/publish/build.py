"""`uruk publish build`: assemble the published repo folder (DESIGN §5) from a `uruk pipeline` folder.

For every published model that the pipeline trained: its Hub-native subfolder (config, safetensors weights,
processor, training record), `model.onnx` exported and validated through Optimum, `model.int8.onnx` (static
calibration on the validation split), an evaluation of the ONNX files on the test split beside the PyTorch one, an
image grid from the test split and a model card generated from the Jinja templates shipped in this package
(`uruk_hf/publish/templates/`). Then the legacy `.pt` files at the seed's paths, the legacy ONNX names under
`onnx/`, `evaluation.json` (the record every card number comes from), the root card and `manifest.json` (every
seed file, present or missing). The models, their folders, files and tasks come from the family registry
(`uruk_hf.catalog`); this module names no family.
"""

import json
import platform
import re
import shutil
from pathlib import Path

import torch

from ..catalog import iter_models, resolve
from ..file_utils import atomic_path, path_from_record
from ..tables import format_metric, metric_cells
from .manifest import manifest

__all__ = ["TEMPLATES", "build_hub_folder", "unsourced_numbers"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
"""The Jinja card templates, shipped inside the package."""

SEED_TAGS = ["neural-rendering", "real-time-graphics", "game-engine", "pytorch", "onnx"]
_MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "training_record.json",
    "scheduler/scheduler_config.json",
)
"""What a published subfolder copies from a trained model's folder when present (the scheduler: WS3's sampler)."""
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _copy(source: Path, target: Path) -> None:
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)


def _numbers(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [number for item in value.values() for number in _numbers(item)]
    if isinstance(value, list | tuple):
        return [number for item in value for number in _numbers(item)]
    if isinstance(value, str):
        return [float(match) for match in _NUMBER.findall(value)]
    return []


def _contexts(card: str, numbers: list[str]) -> list[str]:
    """Where each of `numbers` first appears in `card`, with the text around it (for error messages)."""
    found = []
    for number in numbers:
        index = card.find(number)
        found.append(card[max(0, index - 40) : index + 40].replace("\n", " "))
    return found


def unsourced_numbers(card: str, records: list, template: str) -> list[str]:
    """The numbers written in `card` that neither its `template` text holds nor any numeric value of `records`
    (JSON-like objects) gives under the formats cards use (rounded to 0-4 decimals, x100 for fractions, /1e6 for
    parameter counts). A card is accepted only when this is empty."""
    allowed = {float(match) for match in _NUMBER.findall(template)}
    for value in {number for record in records for number in _numbers(record)}:
        for scaled in (value, value * 100, value / 1e6):
            allowed.update(round(scaled, digits) for digits in range(5))
            allowed.add(float(f"{scaled:.2e}"))
    body = card.split("---", 2)[-1]
    return [match for match in _NUMBER.findall(body) if float(match) not in allowed]


def _stage_rows(record: dict, metric: str) -> list[list[str]]:
    stages = record.get("stages", [record])
    rows = []
    for stage in stages:
        best = stage["best"]
        average = stage.get("settings", {}).get("ema_max_decay")
        rows.append(
            [
                stage["stage"] + (f" (moving average of the weights, decay up to {average:g})" if average else ""),
                str(stage["steps"]) + (f" ({stage['epochs']:g} epochs)" if "epochs" in stage else ""),
                stage["stop_reason"],
                str(best["step"]),
                format_metric(metric, best[metric]),
                f"{stage['seconds']:.0f}",
            ]
        )
    return rows


def _int8_summary(task, change: dict) -> str:
    """The change of each of the task's int8 metrics, in the units of its tables."""
    from ..tables import CELL_FORMATS

    prefix_units = (("psnr", " dB"), ("ms_", " ms"), ("seconds_", " s"))
    parts = []
    for key in task.int8_metrics:
        if key in change:
            scale, digits = CELL_FORMATS.get(key, (1.0, 4))
            unit = next((unit for prefix, unit in prefix_units if key.startswith(prefix)), "")
            unit = " points" if scale == 100.0 else unit
            parts.append(f"{key.replace('_', ' ')} {change[key] * scale:+.{digits}f}{unit}")
    return ", ".join(parts)


def _model_card(family, entry, folder: Path, context: dict, repo_id: str, templates: Path) -> None:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    key = entry.key
    config = entry.config_class.from_pretrained(folder)
    task = family.make_task(config)
    kind = family.dataset_kind
    measured = context["evaluation"]["models"][key]["pytorch"]
    description = context["data_descriptions"][kind]
    dataset = {"dataset_type": f"uruk-{kind.replace('_', '-')}", "dataset_name": description}
    results = [
        EvalResult(task_type=task_type, metric_type=metric, metric_value=value, dataset_split="test", **dataset)
        for task_type, metric, value in task.eval_results(measured)
    ]
    card_data = ModelCardData(
        model_name=f"uruk_hf {key}",
        license="apache-2.0",
        library_name="uruk_hf",
        tags=list(task.card_tags) or SEED_TAGS,
        eval_results=results,
    )
    keys = [metric for metric, _ in task.report_columns]
    baselines = context["evaluation"]["baselines"][kind]
    metrics_rows = [metric_cells(f"**{key}** (PyTorch fp32)", measured, keys, percent_sign=True)]
    onnx = context["evaluation"]["models"][key]
    if "onnx_int8" in onnx:
        metrics_rows.append(metric_cells(f"{key} (ONNX Runtime int8)", onnx["onnx_int8"], keys, percent_sign=True))
    for other in entry.compared_with:
        if other in context["results"]["models"]:
            label = f"{other} ({family.model(other).role or 'same family'}, PyTorch fp32)"
            metrics_rows.append(metric_cells(label, context["results"]["models"][other], keys, percent_sign=True))
    metrics_rows += [
        metric_cells(name, baselines[name], keys, percent_sign=True) for name in task.card_baselines(list(baselines))
    ]
    int8 = None
    if "int8" in onnx:
        int8 = {**onnx["int8"], "summary": _int8_summary(task, onnx["int8_change"])}
    training = json.loads((folder / "training_record.json").read_text())
    task_fields = task.card_fields()
    template = (templates / task.card_template).read_text()
    test = context["evaluation"]["test_sets"][kind]
    role = f"{entry.role}, " if entry.role else ""
    card = ModelCard.from_template(
        card_data,
        template_str=template,
        title=f"Uruk {key} ({role}{config.model_type})",
        description=entry.description,
        **task_fields,
        repo_id=repo_id,
        subfolder=entry.subfolder,
        model_class=entry.model_class.__name__,
        int8=int8,
        onnx_fp32=onnx.get("onnx_fp32"),
        legacy_path=entry.legacy_files[0] if entry.legacy_files else None,
        frames=test["size"],
        test_size=f"{test['size']} {test['unit']}",
        data_description=description,
        metric_headers=[header for _, header in task.report_columns],
        metrics_rows=metrics_rows,
        measured=measured,
        baselines=baselines,
        grid_columns=context["grids"][key],
        lifecycle_description=context["lifecycle_description"][key],
        stage_metric=dict(task.report_columns).get(task.gate_metric, task.gate_metric),
        stage_rows=_stage_rows(training, task.gate_metric),
        training=training,
        hardware=context["hardware"],
        preset=context["preset"],
        limitations=family.limitations.get(key, []),
        provenance=context["provenance"],
    )
    records = [context["evaluation"], training, config.to_dict(), context["generation"], task_fields]
    records.append(context["run_options"].get(family.name, {}))
    # The data description is our own fixed wording around recorded sizes ("Mitsuba 3" is a product name).
    unsourced = unsourced_numbers(str(card), records, f"{template} {description}")
    if unsourced:
        raise ValueError(
            f"The {key} card holds numbers that no record holds: {unsourced} in {_contexts(str(card), unsourced)}"
        )
    with atomic_path(folder / "README.md") as temporary:
        card.save(temporary)


def _publish_model(family, entry, source: Path, folder: Path, data: Path, context: dict) -> None:
    """Copies one trained model into its subfolder, exports it (ONNX fp32 and int8, when its family exports),
    evaluates the exports on the test split and draws its example grid; fills `context`."""
    from ..exporters.onnx import export_onnx, quantize_onnx

    for name in _MODEL_FILES:
        if (source / name).is_file():
            _copy(source / name, folder / name)
    model = entry.model_class.from_pretrained(folder).eval()
    task = family.make_task(model.config)
    test = task.dataset(data, "test")
    evaluation = {"pytorch": context["results"]["models"][entry.key]}
    if family.onnx_config is not None:
        onnx_config = resolve(family.onnx_config)
        evaluation["onnx_export"] = export_onnx(folder, folder, onnx_config_class=onnx_config)
        static = getattr(onnx_config, "INT8_MODE", "static") == "static"
        evaluation["int8"] = quantize_onnx(
            folder,
            task.calibration_inputs(model, task.dataset(data, "validation")) if static else None,
            operators=onnx_config.QUANTIZED_OPERATORS,
            float_modules=onnx_config.FLOAT_MODULES,
        )
        fp32 = task.evaluate(task.onnx_model(folder, "model.onnx"), test, full=True)
        quantized = task.evaluate(task.onnx_model(folder, "model.int8.onnx"), test, full=True)
        evaluation.update(
            onnx_fp32=fp32,
            onnx_int8=quantized,
            int8_change={name: quantized[name] - fp32[name] for name in task.int8_metrics if name in fp32},
        )
        for onnx_file in entry.onnx_files:
            _copy(folder / "model.onnx", context["output"] / onnx_file)
            _copy(folder / "model.int8.onnx", context["output"] / onnx_file.replace(".onnx", ".int8.onnx"))
    context["evaluation"]["models"][entry.key] = evaluation
    context["grids"][entry.key] = task.write_examples(model, test, folder / "examples.png")
    role = f" ({entry.role})" if entry.role else ""
    context["lifecycle_description"][entry.key] = (
        f"Trained by {_trained_by(family, context)}{role}; the stages below come from `training_record.json` in "
        "this folder."
    )


def _trained_by(family, context: dict) -> str:
    """The command that trained `family`'s models, for their cards: the pipeline, or the `uruk train` command (with
    its options, from `run_options.json`) of a run trained into the pipeline folder beforehand and resumed by the
    pipeline (a longer recipe than the pipeline's)."""
    from ..training.run import uruk_train_options

    preset = context["preset"]
    pipeline = f"`uruk pipeline --preset {preset}`"
    recorded = uruk_train_options(context["runs"] / family.name)
    if recorded is None:
        return pipeline
    context["run_options"][family.name] = recorded
    flags = []
    for option in family.options:
        value = recorded["options"].get(option.keyword)
        if value is not None and value is not False:
            flags.append(option.flag if option.is_switch else f"{option.flag} {value}")
    command = " ".join([f"uruk train {family.name} --preset {recorded['preset']} --seed {recorded['seed']}", *flags])
    return f"`{command}` in the pipeline folder, then evaluated and published by {pipeline} with `--resume`"


def build_hub_folder(runs: str | Path, output: str | Path, repo_id: str = "org/uruk", templates=TEMPLATES) -> dict:
    """Builds the repo folder `output` from the pipeline folder `runs`; returns the evaluation record (also
    `output/evaluation.json`) with the manifest.

    Raises:
        FileNotFoundError: `runs` has no `results.json` (run `uruk pipeline` first) or `templates` is missing.
        ValueError: a card would carry a number that no record holds.
    """
    runs, output, templates = Path(runs), Path(output), Path(templates)
    if not (runs / "results.json").is_file():
        raise FileNotFoundError(f"{runs} has no results.json: run `uruk pipeline --output {runs}` first.")
    if not (templates / "model_card.md.j2").is_file():
        raise FileNotFoundError(f"No card templates in {templates} (uruk_hf/publish/templates).")
    results = json.loads((runs / "results.json").read_text())
    if "test_sets" not in results:
        raise ValueError(f"{runs / 'results.json'} was written by an older uruk_hf: run `uruk pipeline` again.")
    data = {kind: path_from_record(folder, runs) for kind, folder in results["data"].items()}
    generation = {kind: json.loads((folder / "generation.json").read_text()) for kind, folder in data.items()}
    context = {
        "results": results,
        "output": output,
        "evaluation": {
            "test_sets": results["test_sets"],
            "models": {},
            "baselines": results["baselines"],
        },
        "generation": generation,
        "data_descriptions": {
            kind: _data_description(record, results["preset"]) for kind, record in generation.items()
        },
        "preset": results["preset"],
        "hardware": f"{platform.machine()} CPU, {results['threads']} thread{'s' * (results['threads'] != 1)}, "
        f"torch {torch.__version__}",
        "runs": runs,
        "run_options": {},
        "grids": {},
        "lifecycle_description": {},
        "provenance": [
            f"`uruk pipeline --preset {results['preset']}`: training records and test metrics (`evaluation.json`, "
            "each folder's `training_record.json`).",
            "`uruk publish build`: ONNX export, int8 quantization and their test-split evaluation.",
        ],
    }
    output.mkdir(parents=True, exist_ok=True)
    published = []
    for family, entry in iter_models(published_only=True):
        source = runs / entry.run_folder
        if entry.key not in results["models"] or not source.is_dir():
            continue
        _publish_model(family, entry, source, output / entry.subfolder, data[family.dataset_kind], context)
        published.append((family, entry))
    for legacy in sorted(runs.glob("*/legacy")):
        for file in legacy.rglob("*.pt"):
            _copy(file, output / file.relative_to(legacy))
    context["evaluation"]["hardware"] = {"description": context["hardware"], "torch": torch.__version__}
    with atomic_path(output / "evaluation.json") as temporary:
        temporary.write_text(json.dumps(context["evaluation"], indent=2, default=str))
    for family, entry in published:
        _model_card(family, entry, output / entry.subfolder, context, repo_id, templates)
    rows = manifest(output)
    with atomic_path(output / "manifest.json") as temporary:
        temporary.write_text(json.dumps(rows, indent=2))
    _root_card(output, context, published, rows, repo_id, templates)
    return {"evaluation": context["evaluation"], "manifest": rows}


def _data_description(generation: dict, preset: str) -> str:
    """One line on the data a pipeline trained on, from its generation record."""
    render = generation["preset"].get("render")
    if render is None:
        return f"`{preset}` preset of the `{generation.get('dataset_kind')}` generator"
    return f"{render['width']}x{render['height']} Mitsuba 3 renders, `{preset}` preset"


def _root_card(output: Path, context: dict, published: list, rows: list[dict], repo_id: str, templates: Path) -> None:
    from huggingface_hub import ModelCard, ModelCardData

    evaluation = context["evaluation"]
    model_rows, claims = [], []
    for family, entry in published:
        metrics = evaluation["models"][entry.key]["pytorch"]
        legacy = [path for path in entry.legacy_files if (output / path).is_file()]
        model_rows.append(
            [
                f"`{entry.subfolder}`",
                entry.key,
                entry.role or "-",
                f"{metrics['params'] / 1e6:.2f}M",
                resolve(family.task).headline(metrics),
                ", ".join(f"`{path}`" for path in legacy) or "-",
            ]
        )
        for claim, metric, note in entry.seed_claims:
            ours = note if metric is None else f"{metric} {format_metric(metric, metrics[metric], True)} ({note})"
            claims.append([claim, ours])
    test_sets, baseline_lines = [], []
    for kind, baselines in evaluation["baselines"].items():
        family = next(family for family, _ in published if family.dataset_kind == kind) if published else None
        if family is None:
            continue
        test = evaluation["test_sets"][kind]
        test_sets.append(f"`{kind}` ({test['size']} {test['unit']}, {context['data_descriptions'][kind]})")
        task = resolve(family.task)
        summary = "; ".join(f"`{name}` {task.headline(metrics)}" for name, metrics in baselines.items())
        baseline_lines.append(f"{kind}: {summary}")
    template = (templates / "root_card.md.j2").read_text()
    card = ModelCard.from_template(
        ModelCardData(license="apache-2.0", tags=SEED_TAGS),
        template_str=template,
        preset=context["preset"],
        test_sets=", ".join(test_sets),
        model_rows=model_rows,
        baseline_lines=baseline_lines,
        claims=claims,
        manifest_rows=rows,
        repo_id=repo_id,
        training_summary=(
            "Each model's card lists its stages (Smoke, Calibration, Production, Distillation) from its training "
            f"record. Hardware: {context['hardware']}."
        ),
    )
    claimed = " ".join(claim for _, entry in published for claim, _, _ in entry.seed_claims)  # quoted beside ours
    allowed_text = " ".join([template, claimed, *context["data_descriptions"].values()])
    unsourced = unsourced_numbers(str(card), [evaluation, rows, context["generation"]], allowed_text)
    if unsourced:
        raise ValueError(
            f"The root card holds numbers that no record holds: {unsourced} in {_contexts(str(card), unsourced)}"
        )
    with atomic_path(output / "README.md") as temporary:
        card.save(temporary)
