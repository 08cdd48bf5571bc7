"""Time per generated item of the content generators against the procedural generators they learn, on this
machine's threads: WS8 (one full-length structure of 64 blocks at batch size 1, and structures sampled 250 at a
time) beside the shape grammar; WS3 (one 64x64 map, the teacher at 25 sampler steps and the student at its own
steps and at 25) beside the terrain generator. Each model in PyTorch and exported to ONNX Runtime (fp32, and the
published int8).

    python benchmarks/bench_generators.py                       # random weights at the quick and full presets
    python benchmarks/bench_generators.py --hub PIPELINE_DIR/hub # the published models (and the presets)

Median over `--repeats` timed runs after one warm-up (the batch-1 runs of the WS8 models in turn). Latency does
not depend on the weights (a full-length structure is forced by holding `eos` back), so random weights at the
published sizes time the published models; batches of 250 do (random weights rarely end a structure early).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_inference import median_ms

from uruk_hf import (
    UrukORTWS3WorldAuthoring,
    UrukORTWS8StructureGenerator,
    UrukWS3WorldAuthoring,
    UrukWS3WorldAuthoringConfig,
    UrukWS8StructureGenerator,
    UrukWS8StructureGeneratorConfig,
)
from uruk_hf.data.grammar.shapes import build_structure
from uruk_hf.data.terrain.procedural import generate_world, sample_knobs
from uruk_hf.exporters.onnx import export_onnx
from uruk_hf.schema import STRUCTURE_CLASSES
from uruk_hf.tables import format_table
from uruk_hf.training.tasks.structure_generation import full_length_seconds, sample_structures
from uruk_hf.training.tasks.world_authoring import sample_worlds


def ws8_rows(models: dict, repeats: int) -> list[list[str]]:
    """`models`: name -> (model, parameter count), PyTorch or ONNX Runtime."""
    rng = np.random.default_rng(0)
    grammar_ms = median_ms(repeats, lambda: [build_structure(c, rng) for c in STRUCTURE_CLASSES]) / 6
    rows = [["shape grammar", "-", "-", f"{grammar_ms:.2f}", "1.0x"]]
    full_ms = {name: [] for name in models}
    for model, _ in models.values():
        full_length_seconds(model, 1)  # warm-up
    for _ in range(repeats):  # the models in turn, so that a slower minute of the machine hits them all
        for name, (model, _) in models.items():
            full_ms[name].append(1000 * full_length_seconds(model, 1))
    for name, (model, params) in models.items():
        full = float(np.median(full_ms[name]))
        _, seconds = sample_structures(model, 250)
        batched = 1000 * seconds / 250
        rows.append([name, f"{params / 1e6:.2f}M", f"{full:.0f}", f"{batched:.1f}", f"{batched / grammar_ms:.0f}x"])
    return rows


PUBLISHED_FILES = ("model.onnx", "model.int8.onnx")


def with_onnx(name: str, model, runtime_class, folder: Path, files=("model.onnx",)) -> dict:
    """`model` and its export(s) in `folder` (exported there first unless `folder` holds `files`) on
    `runtime_class`, by name, each with the model's parameter count."""
    entries = {name: (model, sum(p.numel() for p in model.parameters()))}
    if not (folder / files[0]).is_file():
        model.save_pretrained(folder)
        export_onnx(folder, folder)
    for file_name in files:
        runtime = runtime_class.from_pretrained(folder, file_name=file_name)
        entries[f"{name}, ONNX Runtime {'int8' if 'int8' in file_name else 'fp32'}"] = (runtime, entries[name][1])
    return entries


def ws3_rows(models: dict, repeats: int) -> list[list[str]]:
    rng = np.random.default_rng(0)
    knobs = sample_knobs(rng)[None]
    generator_ms = median_ms(repeats, lambda: generate_world(knobs[0], rng))
    rows = [["terrain generator", "-", "-", f"{generator_ms:.1f}", "1.0x"]]
    for name, (model, params) in models.items():
        for steps in sorted({model.config.num_inference_steps, 25}):
            ms = median_ms(repeats, sample_worlds, model, knobs, 1, 100, 0, steps)
            rows.append([name, f"{params / 1e6:.2f}M", str(steps), f"{ms:.0f}", f"{ms / generator_ms:.0f}x"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hub", default=None, help="a published folder (`uruk pipeline` writes PIPELINE_DIR/hub)")
    parser.add_argument("--presets", nargs="+", default=["quick", "full"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)

    structures, worlds = {}, {}
    scratch = tempfile.TemporaryDirectory()
    if args.hub:
        hub = Path(args.hub)
        folder = hub / "ws8_structure_generator"
        published = UrukWS8StructureGenerator.from_pretrained(folder).eval()
        structures.update(with_onnx("published", published, UrukORTWS8StructureGenerator, folder, PUBLISHED_FILES))
        ws3_folders = {"teacher": "workstreams/ws3_world_authoring", "student": "distillation/ws3_student"}
        for role, subfolder in ws3_folders.items():
            folder = hub / subfolder
            published = UrukWS3WorldAuthoring.from_pretrained(folder).eval()
            worlds.update(with_onnx(f"published {role}", published, UrukORTWS3WorldAuthoring, folder, PUBLISHED_FILES))
    for preset in args.presets:
        model = UrukWS8StructureGenerator(UrukWS8StructureGeneratorConfig.from_preset(preset)).eval()
        structures.update(with_onnx(preset, model, UrukORTWS8StructureGenerator, Path(scratch.name) / preset))
        for role in ("teacher", "student"):
            config = UrukWS3WorldAuthoringConfig.from_preset(preset, role=role)
            model = UrukWS3WorldAuthoring(config).eval()
            folder = Path(scratch.name) / f"{preset}_{role}"
            worlds.update(with_onnx(f"{preset} {role}", model, UrukORTWS3WorldAuthoring, folder))

    started = time.perf_counter()
    print(f"WS8 structures ({torch.get_num_threads()} threads):")
    headers = ["generator", "params", "ms per 64-block structure (batch 1)", "ms per structure (batches of 250)",
               "vs grammar"]  # fmt: skip
    print(format_table(headers, ws8_rows(structures, args.repeats)))
    print("\nWS3 64x64 maps (classifier-free guidance, DPM-Solver++):")
    headers = ["generator", "params", "sampler steps", "ms per map (batch 1)", "vs generator"]
    print(format_table(headers, ws3_rows(worlds, args.repeats)))
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
