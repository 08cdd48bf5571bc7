"""`uruk publish build`: assemble the published repo folder (DESIGN §5) from a `uruk pipeline` folder.

For every published model that the pipeline trained: its Hub-native subfolder (config, safetensors weights,
processor, training record), `model.onnx` exported and validated through Optimum, `model.int8.onnx` (static
calibration on the validation split), an evaluation of the ONNX files on the test split beside the PyTorch one, an
image grid from the test split and a model card generated from the Jinja templates in `model_cards/`. Then the
legacy `.pt` files at the seed's paths, the legacy ONNX names under `onnx/`, `evaluation.json` (the record every
card number comes from), the root card and `manifest.json` (every seed file, present or missing).
"""

import json
import platform
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from ..catalog import PUBLISHED_BY_KEY
from ..file_utils import atomic_path
from ..pipeline import metric_cells
from ..training.run import LEGACY_FILES
from .manifest import LEGACY_ONNX, manifest

__all__ = ["TEMPLATES", "build_hub_folder", "unsourced_numbers"]

TEMPLATES = Path(__file__).resolve().parents[3] / "model_cards"
"""The Jinja card templates of a source checkout (`model_cards/` beside `src/`)."""

SEED_TAGS = ["neural-rendering", "real-time-graphics", "game-engine", "pytorch", "onnx"]
_MODEL_FILES = ("config.json", "model.safetensors", "preprocessor_config.json", "training_record.json")
_LEGACY_PT = {
    "v2_ultra": [LEGACY_FILES["v2_ultra"][stage] for stage in ("global_best", "stage1", "stage2")],
    "v2_optimized": [LEGACY_FILES["v2_optimized"]["global_best"]],
    "ws5_cinematic_renderer": [LEGACY_FILES["ws5"]["teacher"]],
    "ws5_student": [LEGACY_FILES["ws5"][stage] for stage in ("global_best", "final")],
}
"""Published model key -> its legacy `.pt` files at the seed's paths (the first is the one its card loads)."""
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


def _evaluate_onnx(folder: Path, file_name: str, test, processor) -> dict:
    """The test-split metrics of an ONNX file of `folder` (`test`: the model's `UrukClipDataset`)."""
    from ..modeling_ort import UrukORTRenderer
    from ..training.evaluation import evaluate_renderer

    return evaluate_renderer(UrukORTRenderer.from_pretrained(folder, file_name=file_name), test, processor, flip=True)


def _examples(model, test, processor, path: Path, clips: int = 4) -> str:
    """A grid of the last frame of the first `clips` test clips, one row each: cheap render, prediction, ground
    truth (and predicted and labelled materials for V2); returns the column names."""
    from PIL import Image

    from ..processing_gbuffer import MATERIAL_PALETTE
    from ..tonemap import tonemap
    from ..training.data import UrukClipCollator
    from ..training.unroll import unroll_clip

    columns = [model.config.cheap_render_buffer, "prediction", "ground truth"]
    rows = []
    with torch.inference_mode():
        for index in range(min(clips, len(test))):
            clip = test[index]
            batch = UrukClipCollator(processor)([clip])
            output = unroll_clip(model, batch, processor)[-1]
            images = [
                torch.from_numpy(clip[model.config.cheap_render_buffer][-1].astype(np.float32)).permute(2, 0, 1),
                output.frame[0],
                batch["frame_targets"][0, -1],
            ]
            tiles = [(tonemap(image).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8) for image in images]
            if output.material_logits is not None:
                labels = batch["material_labels"][0, -1].numpy()
                predicted = output.material_logits[0].argmax(0).numpy()
                for classes in (predicted, labels):
                    tile = MATERIAL_PALETTE[np.clip(classes, 0, None) % len(MATERIAL_PALETTE)].astype(np.uint8)
                    tile[labels < 0] = 0
                    tiles.append(tile)
            rows.append(np.concatenate(tiles, axis=1))
    if len(columns) < rows[0].shape[1] // rows[0].shape[0]:
        columns += ["predicted materials", "labelled materials"]
    image = Image.fromarray(np.concatenate(rows, axis=0)).resize(
        (rows[0].shape[1] * 2, rows[0].shape[0] * len(rows) * 2), Image.NEAREST
    )
    with atomic_path(path) as temporary:
        image.save(temporary, format="PNG")
    return ", ".join(columns)


def _metric_cells(name: str, metrics: dict) -> list[str]:
    keys = ["psnr", "ssim", "ms_ssim", "flip", "material_accuracy", "material_miou", "ms_per_frame"]
    return metric_cells(name, metrics, keys, percent_sign=True)


def _stage_rows(record: dict) -> list[list[str]]:
    stages = record.get("stages", [record])
    rows = []
    for stage in stages:
        best = stage["best"]
        rows.append(
            [
                stage["stage"],
                str(stage["steps"]),
                stage["stop_reason"],
                str(best["step"]),
                f"{best['psnr']:.2f}",
                f"{stage['seconds']:.0f}",
            ]
        )
    return rows


def _model_card(key: str, folder: Path, context: dict, repo_id: str, templates: Path) -> None:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData
    from transformers import AutoConfig

    from ..schema import BUFFER_SPECS

    entry = PUBLISHED_BY_KEY[key]
    config = AutoConfig.from_pretrained(folder)
    measured = context["evaluation"]["models"][key]["pytorch"]
    dataset = {"dataset_type": "uruk-procedural-gbuffers", "dataset_name": context["data_description"]}
    results = [
        EvalResult(
            task_type="image-to-image",
            metric_type=metric,
            metric_value=float(measured[metric]),
            dataset_split="test",
            **dataset,
        )
        for metric in ("psnr", "ssim", "ms_ssim", "flip")
    ]
    if "material_miou" in measured:
        results.append(
            EvalResult(
                task_type="image-segmentation",
                metric_type="mean_iou",
                metric_value=float(measured["material_miou"]),
                dataset_split="test",
                **dataset,
            )
        )
    card_data = ModelCardData(
        model_name=f"uruk_hf {key}",
        license="apache-2.0",
        library_name="uruk_hf",
        tags=SEED_TAGS,
        eval_results=results,
    )
    baselines = context["evaluation"]["baselines"]
    metrics_rows = [_metric_cells(f"**{key}** (PyTorch fp32)", measured)]
    onnx = context["evaluation"]["models"][key]
    metrics_rows.append(_metric_cells(f"{key} (ONNX Runtime int8)", onnx["onnx_int8"]))
    metrics_rows += [_metric_cells(name, metrics) for name, metrics in baselines.items()]
    change = onnx["int8_change"]
    int8 = {
        **onnx["int8"],
        "psnr_change": f"{change['psnr']:+.2f}",
        "miou_change": f"{100 * change['material_miou']:+.2f}" if "material_miou" in change else None,
    }
    training = json.loads((folder / "training_record.json").read_text())
    layout = [
        {
            "name": item["name"],
            "channels": item["channels"],
            "transform": BUFFER_SPECS[item["name"]].transform,
            "description": BUFFER_SPECS[item["name"]].description,
        }
        for item in config.input_buffers
    ]
    template = (templates / "model_card.md.j2").read_text()
    card = ModelCard.from_template(
        card_data,
        template_str=template,
        title=f"Uruk {key} ({entry.role}, {config.model_type})",
        description=entry.description,
        num_channels=config.num_channels,
        layout=layout,
        has_materials=config.use_material_head,
        num_labels=config.num_labels,
        labels=", ".join(config.id2label[index] for index in sorted(config.id2label)),
        repo_id=repo_id,
        subfolder=entry.subfolder,
        model_class=type(context["models"][key]).__name__,
        int8=int8,
        legacy_path=_LEGACY_PT.get(key, [None])[0],
        frames=context["evaluation"]["frames"],
        data_description=context["data_description"],
        metrics_rows=metrics_rows,
        grid_columns=context["grids"][key],
        lifecycle_description=context["lifecycle_description"][key],
        stage_rows=_stage_rows(training),
        hardware=context["hardware"],
        preset=context["preset"],
        limitations=context["limitations"].get(key, []),
        provenance=context["provenance"],
    )
    records = [context["evaluation"], training, config.to_dict(), context["generation"], config.num_channels]
    unsourced = unsourced_numbers(str(card), records, template)
    if unsourced:
        raise ValueError(f"The {key} card holds numbers that no record holds: {unsourced}")
    with atomic_path(folder / "README.md") as temporary:
        card.save(temporary)


def build_hub_folder(runs: str | Path, output: str | Path, repo_id: str = "org/uruk", templates=TEMPLATES) -> dict:
    """Builds the repo folder `output` from the pipeline folder `runs`; returns the evaluation record (also
    `output/evaluation.json`) with the manifest.

    Raises:
        FileNotFoundError: `runs` has no `results.json` (run `uruk pipeline` first) or `templates` is missing.
        ValueError: a card would carry a number that no record holds.
    """
    from transformers import AutoModel

    from ..exporters.onnx import calibration_inputs, export_onnx, quantize_onnx
    from ..pipeline import MODEL_FOLDERS
    from ..processing_gbuffer import UrukGBufferProcessor
    from ..training.data import UrukClipDataset

    runs, output, templates = Path(runs), Path(output), Path(templates)
    if not (runs / "results.json").is_file():
        raise FileNotFoundError(f"{runs} has no results.json: run `uruk pipeline --output {runs}` first.")
    if not (templates / "model_card.md.j2").is_file():
        raise FileNotFoundError(f"No card templates in {templates} (the repo's model_cards/ folder).")
    results = json.loads((runs / "results.json").read_text())
    data = Path(results["data"])
    generation = json.loads((data / "generation.json").read_text())
    render = generation["preset"]["render"]
    context = {
        "evaluation": {
            "split": results["split"],
            "frames": results["frames"],
            "models": {},
            "baselines": results["baselines"],
        },
        "generation": generation,
        "data_description": f"{render['width']}x{render['height']} Mitsuba 3 renders, `{results['preset']}` preset",
        "preset": results["preset"],
        "hardware": f"{platform.machine()} CPU, {results['threads']} threads, torch {torch.__version__}",
        "models": {},
        "grids": {},
        "lifecycle_description": {},
        "limitations": {},
        "provenance": [
            f"`uruk pipeline --preset {results['preset']}`: training records and test metrics (`evaluation.json`, "
            "each folder's `training_record.json`).",
            "`uruk publish build`: ONNX export, int8 quantization and their test-split evaluation.",
        ],
    }
    output.mkdir(parents=True, exist_ok=True)
    for key, entry in PUBLISHED_BY_KEY.items():
        source = runs / MODEL_FOLDERS[key]
        if not source.is_dir():
            continue
        folder = output / entry.subfolder
        for name in _MODEL_FILES:
            _copy(source / name, folder / name)
        export = export_onnx(folder, folder)
        model = AutoModel.from_pretrained(folder).eval()
        processor = UrukGBufferProcessor.from_model_config(model.config)
        validation = UrukClipDataset(data, "validation", model.config.input_buffers)
        test = UrukClipDataset(data, "test", model.config.input_buffers)
        int8 = quantize_onnx(folder, calibration_inputs(model, validation, processor))
        context["models"][key] = model
        fp32 = _evaluate_onnx(folder, "model.onnx", test, processor)
        quantized = _evaluate_onnx(folder, "model.int8.onnx", test, processor)
        change = {name: quantized[name] - fp32[name] for name in ("psnr", "material_miou") if name in fp32}
        context["evaluation"]["models"][key] = {
            "pytorch": results["models"][key],
            "onnx_fp32": fp32,
            "onnx_int8": quantized,
            "int8_change": change,
            "int8": int8,
            "onnx_export": export,
        }
        context["grids"][key] = _examples(model, test, processor, folder / "examples.png")
        context["lifecycle_description"][key] = (
            f"Trained by `uruk pipeline --preset {results['preset']}` ({entry.role}); the stages below come from "
            "`training_record.json` in this folder."
        )
        if key in LEGACY_ONNX:
            _copy(folder / "model.onnx", output / LEGACY_ONNX[key])
            _copy(folder / "model.int8.onnx", output / LEGACY_ONNX[key].replace(".onnx", ".int8.onnx"))
    for legacy in sorted(runs.glob("*/legacy")):
        for file in legacy.rglob("*.pt"):
            _copy(file, output / file.relative_to(legacy))
    context["evaluation"]["hardware"] = {"description": context["hardware"], "torch": torch.__version__}
    with atomic_path(output / "evaluation.json") as temporary:
        temporary.write_text(json.dumps(context["evaluation"], indent=2, default=str))
    for key in context["models"]:
        _model_card(key, output / PUBLISHED_BY_KEY[key].subfolder, context, repo_id, templates)
    rows = manifest(output)
    with atomic_path(output / "manifest.json") as temporary:
        temporary.write_text(json.dumps(rows, indent=2))
    _root_card(output, context, rows, repo_id, templates)
    return {"evaluation": context["evaluation"], "manifest": rows}


def _root_card(output: Path, context: dict, rows: list[dict], repo_id: str, templates: Path) -> None:
    from huggingface_hub import ModelCard, ModelCardData

    evaluation = context["evaluation"]
    model_rows = []
    for key, measured in evaluation["models"].items():
        metrics = measured["pytorch"]
        entry = PUBLISHED_BY_KEY[key]
        miou = metrics.get("material_miou")
        legacy = [path for path in _LEGACY_PT.get(key, []) if (output / path).is_file()]
        model_rows.append(
            [
                f"`{entry.subfolder}`",
                key,
                entry.role,
                f"{metrics['params'] / 1e6:.2f}M",
                f"{metrics['psnr']:.2f}",
                "-" if miou is None else f"{100 * miou:.1f}%",
                ", ".join(f"`{path}`" for path in legacy) or "-",
            ]
        )
    baselines = evaluation["baselines"]
    frame_baselines = ", ".join(
        f"`{name}` {metrics['psnr']:.2f} dB" for name, metrics in baselines.items() if "psnr" in metrics
    )
    material_baselines = ", ".join(
        f"`{name}` {100 * metrics['material_miou']:.1f}% mIoU"
        for name, metrics in baselines.items()
        if "material_miou" in metrics
    )
    claims = []
    v2 = evaluation["models"].get("v2_ultra", {}).get("pytorch")
    if v2 is not None:
        claims.append(["V2-Ultra: 94.6% material accuracy", f"{100 * v2['material_accuracy']:.1f}% (test split)"])
        claims.append(["exceeds DLSS 5 quality", "not measured: DLSS is closed; OIDN is our measured reference"])
    ws5 = evaluation["models"].get("ws5_student", {}).get("pytorch")
    if ws5 is not None:
        claims.append(["WS5 student best val_loss 0.216", f"test PSNR {ws5['psnr']:.2f} dB"])
    template = (templates / "root_card.md.j2").read_text()
    card = ModelCard.from_template(
        ModelCardData(license="apache-2.0", tags=SEED_TAGS),
        template_str=template,
        preset=context["preset"],
        frames=evaluation["frames"],
        data_description=context["data_description"],
        any_materials=any("material_miou" in model["pytorch"] for model in evaluation["models"].values()),
        model_rows=model_rows,
        baseline_summary=f"{frame_baselines}; {material_baselines}",
        claims=claims,
        manifest_rows=rows,
        repo_id=repo_id,
        training_summary=(
            "Each model's card lists its stages (Smoke, Calibration, Production, Distillation) from its training "
            f"record. Hardware: {context['hardware']}."
        ),
    )
    claimed = "94.6 0.216 5"  # the original card's own figures, quoted beside ours
    unsourced = unsourced_numbers(str(card), [evaluation, rows, context["generation"]], template + claimed)
    if unsourced:
        raise ValueError(f"The root card holds numbers that no record holds: {unsourced}")
    with atomic_path(output / "README.md") as temporary:
        card.save(temporary)
