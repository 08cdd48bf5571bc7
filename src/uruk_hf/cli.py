"""The `uruk` command line: `uruk models`, `uruk demo`, `uruk data generate|baselines`, `uruk train`,
`uruk pipeline`, `uruk evaluate`, `uruk export onnx`, `uruk publish build|upload`.

Families and dataset kinds come from the registry (`uruk_hf.catalog`); each subcommand imports its heavy parts
(torch, transformers, Mitsuba) only when it runs, so `uruk --help` answers at once.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from .catalog import DATASET_KINDS, family_names, get_family
from .presets import PRESET_NAMES
from .tables import format_table

__all__ = ["build_parser", "main"]


def models_table() -> tuple[str, bool]:
    """The table of every published model at every preset: parameters from the config, the DESIGN §1 budget and
    the subfolder. Returns the table and whether every full-size model is within its budget."""
    from .catalog import BUDGET_TOLERANCE, count_parameters, iter_models

    rows, all_within = [], True
    for _, published in iter_models(published_only=True):
        for preset in PRESET_NAMES:
            params = count_parameters(published.model_class, published.config(preset))
            budget, verdict = "-", "-"
            if preset == "full":
                deviation = params / published.budget - 1.0
                within = abs(deviation) <= BUDGET_TOLERANCE
                all_within &= within
                budget = f"{published.budget / 1e6:.2f}M"
                verdict = f"{'yes' if within else 'NO'} ({deviation:+.1%})"
            rows.append(
                [
                    published.key,
                    published.config_class.model_type,
                    preset,
                    published.role or "-",
                    f"{params / 1e6:.3f}M",
                    budget,
                    verdict,
                    published.subfolder,
                ]
            )
    headers = ["model", "model_type", "preset", "role", "params", "budget", "within ±5%", "subfolder"]
    return format_table(headers, rows), all_within


def _models(args: argparse.Namespace) -> int:
    table, all_within = models_table()
    print(table)
    return 0 if all_within else 1


def _demo(args: argparse.Namespace) -> int:
    import torch

    from .catalog import iter_models
    from .data.rendering.synthetic import synthetic_gbuffer
    from .models.gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    buffers = synthetic_gbuffer(args.height, args.width, seed=args.seed)
    print(
        f"Synthetic G-buffer {args.width}x{args.height}; models at preset {args.preset!r} with random weights "
        f"(untrained: this shows the path from buffers to images, not quality); {torch.get_num_threads()} threads."
    )
    rows = []
    for _, published in iter_models(published_only=True):
        config = published.config(args.preset)
        if not hasattr(config, "input_buffers"):
            continue  # the demo renders G-buffers
        model = published.model_class(config).eval()
        processor = UrukGBufferProcessor.from_model_config(config)
        inputs = processor({entry["name"]: buffers[entry["name"]] for entry in config.input_buffers})
        if hasattr(config, "condition_size"):  # WS4: relight from the first preset to the second, sun up at 45 deg
            condition = torch.zeros(1, config.condition_size)
            presets = len(config.lighting_presets)
            condition[0, 0] = condition[0, presets + 1] = 1.0
            condition[0, 2 * presets :] = torch.tensor([0.0, 0.7071, 0.7071, 3.0])
            inputs["condition"] = condition
        timings = []
        with torch.inference_mode():
            for _ in range(args.repeats):
                start = time.perf_counter()
                outputs = model(**inputs)
                timings.append(time.perf_counter() - start)
        logits = getattr(outputs, "material_logits", None)
        images = processor.postprocess(outputs.frame, logits, mask=torch.from_numpy(buffers["mask"]))
        written = []
        for kind, image in images[0].items():
            path = output / f"{published.key}_{kind}.png"
            image.save(path)
            written.append(path.name)
        params = sum(parameter.numel() for parameter in model.parameters())
        rows.append(
            [published.key, f"{params / 1e6:.3f}M", f"{statistics.median(timings) * 1e3:.1f}", ", ".join(written)]
        )
    print(format_table(["model", "params", "ms/frame (median)", "images"], rows))
    print()
    table, all_within = models_table()
    print(table)
    return 0 if all_within else 1


def _data_generate(args: argparse.Namespace) -> int:
    from .catalog import dataset_kind
    from .data.folder import generate_dataset

    summary = generate_dataset(
        dataset_kind(args.kind),
        args.output,
        preset=args.preset,
        seed=args.seed,
        num_shards=args.num_shards,
        shard_index=args.shard_index,
        variant=args.variant,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    state = "complete" if summary["complete"] else "incomplete: other shards still running or to run"
    rendering = f" ({summary['render_seconds']:.1f} s rendering, {summary['variant']})" if summary["variant"] else ""
    print(
        f"shard {summary['shard_index']}/{summary['num_shards']}: wrote {summary['chunks_written']} chunks "
        f"({summary['frames_written']} rows), skipped {summary['chunks_skipped']} already written, "
        f"{summary['seconds']:.1f} s{rendering}; dataset {state}: {args.output}"
    )
    return 0


def _data_baselines(args: argparse.Namespace) -> int:
    import json

    from .catalog import dataset_kind

    record = Path(args.folder) / "generation.json"
    if not record.is_file():
        raise FileNotFoundError(
            f"{args.folder} has no generation.json: it is not a folder made by `uruk data generate`."
        )
    generator = dataset_kind(json.loads(record.read_text()).get("dataset_kind", "gbuffer_clips"))
    print(generator.describe_baselines(generator.finalize(Path(args.folder))))
    return 0


def _train(args: argparse.Namespace) -> int:
    from .training.gates import GateFailure
    from .training.lifecycle import SmokeFailure
    from .training.progress import TrainingDivergedError
    from .training.run import DIVERGED_STAGE_PREFIX, train_family
    from .training.warm_start import WarmStartError

    family = get_family(args.family)
    options = {option.keyword: getattr(args, option.keyword) for option in family.options}
    try:
        record = train_family(
            args.family, args.data, args.output, preset=args.preset, resume=args.resume, seed=args.seed, **options
        )
    except (SmokeFailure, GateFailure, TrainingDivergedError, WarmStartError) as failure:
        print(f"uruk train {args.family}: stopped. {failure}", file=sys.stderr)
        return 1
    stages = record["stages"]
    chosen = ""
    if "learning_rate" in record:
        restarted = any(name.startswith(DIVERGED_STAGE_PREFIX) for name in stages)
        source = "calibration chose" if "calibration" in stages and not restarted else "trained at"
        chosen = f"; {source} lr {record['learning_rate']:g}"
    lines = [f"{args.family} ({args.preset}): smoke passed{chosen}."]
    for name, stage in stages.items():
        if name.startswith(DIVERGED_STAGE_PREFIX):
            lines.append(f"  {name}: {stage['error']} Set aside; Production started again at the next lower rate.")
        for part in stage.get("stages", [stage]):
            if "gate" not in part:
                continue
            gate, best = part["gate"], part["best"]
            metric = gate["metric"]
            material = f", mIoU {100 * best['material_miou']:.1f}%" if "material_miou" in best else ""
            lines.append(
                f"  {name}/{part['stage']}: best validation {metric} {best[metric]:.2f}{material} at step "
                f"{part['best_step']} ({part['stop_reason']}); gate {gate['baseline']} {gate['baseline_value']:.2f}"
                f" {gate['margin']:+g} passed"
            )
    lines.append(f"{record['seconds']:.0f} s. Models: {args.output}/models, legacy files: {args.output}/legacy")
    print("\n".join(lines))
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    from .pipeline import results_table, run_pipeline
    from .training.gates import GateFailure
    from .training.lifecycle import SmokeFailure
    from .training.progress import TrainingDivergedError

    families = None if args.families is None else [name.strip() for name in args.families.split(",") if name.strip()]
    try:
        results = run_pipeline(
            args.output,
            preset=args.preset,
            data=args.data,
            resume=args.resume,
            publish=not args.no_publish,
            families=families,
            seed=args.seed,
        )
    except (SmokeFailure, GateFailure, TrainingDivergedError) as failure:
        print(f"uruk pipeline: stopped. {failure}", file=sys.stderr)
        return 1
    if results["added_families"]:
        print(f"Also ran {', '.join(results['added_families'])}: required by the families asked for.")
    elsewhere = _trained_elsewhere(args.output, results["families"])
    print(f"Test splits; models trained by `uruk pipeline --preset {args.preset}`{elsewhere}.")
    print(results_table(results))
    timings = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in results["seconds"].items())
    print(f"Wall time: {timings}. Results: {Path(args.output) / 'results.json'}")
    if "manifest" in results:
        present = sum(row["present"] for row in results["manifest"])
        print(f"Repo folder: {Path(args.output) / 'hub'} ({present} of {len(results['manifest'])} seed files present)")
    return 0


def _trained_elsewhere(output: str | Path, families: list[str]) -> str:
    """ ", except ws8's, trained by `uruk train` in the folder": the families of a resumed pipeline folder `output`
    whose runs `uruk train` started (their `run_options.json`), as their cards say; empty when there are none."""
    from .training.run import uruk_train_options

    names = [name for name in families if uruk_train_options(Path(output) / name) is not None]
    return f", except {', '.join(names)}'s, trained by `uruk train` in the folder" if names else ""


def _evaluate(args: argparse.Namespace) -> int:
    from .generalization import evaluate_generalization, generalization_tables

    models = {}
    for entry in args.model:
        name, separator, folder = entry.partition("=")
        if not separator or not name or not folder:
            raise ValueError(f"--model takes NAME=FOLDER, got {entry!r}.")
        models[name] = folder
    sizes = tuple(int(size) for size in args.sizes.split(",") if size.strip())
    if not sizes or min(sizes) < 8:
        raise ValueError(f"--sizes takes comma-separated resolutions of at least 8 pixels, got {args.sizes!r}.")
    results = evaluate_generalization(
        run=args.run,
        data=args.data,
        models=models,
        sizes=sizes,
        scenes_root=args.scenes,
        ground_truth_spp=args.spp,
        output=args.output,
        collection=args.collection,
    )
    print(generalization_tables(results))
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from .exporters.onnx import export_onnx

    record = export_onnx(args.model_dir, args.output, opset=args.opset)
    checks = "; ".join(
        f"{_shape(entry)}: Optimum validation passed (atol {entry['optimum_atol']:g}), "
        f"{entry['parity_metric'].replace('_', ' ')} {entry[entry['parity_metric']]:.2e}"
        for entry in record["validation"]
    )
    print(f"Exported {record['model_type']} to {Path(args.output) / 'model.onnx'} (opset {record['opset']}). {checks}")
    return 0


def _shape(entry: dict) -> str:
    """`batch_size=2, height=64, width=64` of a validation entry of `export_onnx`."""
    skip = {"optimum_atol", "parity_metric", entry["parity_metric"]}
    return ", ".join(f"{key}={value}" for key, value in entry.items() if key not in skip)


def _publish_build(args: argparse.Namespace) -> int:
    from .publish.build import build_hub_folder

    built = build_hub_folder(args.runs, args.output, repo_id=args.repo_id)
    rows = [[row["path"], row["family"], "present" if row["present"] else "missing"] for row in built["manifest"]]
    print(format_table(["seed file", "family", "status"], rows))
    present = sum(row["present"] for row in built["manifest"])
    print(f"{present} of {len(rows)} seed files present; folder: {args.output}")
    return 0


def _publish_upload(args: argparse.Namespace) -> int:
    from .publish.upload import upload_repo_folder

    done = upload_repo_folder(args.folder, args.repo_id, private=args.private)
    print(f"Uploaded {args.folder} to {done['repo_id']} with {done['method']} ({done['bytes'] / 1e6:.1f} MB).")
    return 0


def _seed(text: str) -> int:
    """An argparse type: a dataset seed in 0..2**63-1."""
    from .data.folder import MAX_SEED

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be in 0..{MAX_SEED} (2**63 - 1), got {value}")
    return value


class _OneLineParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line (the usage is one `--help` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_SEED_HELP = "training seed: initialization, shuffling, sampling (the data do not change)"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The `uruk` argument parser; for `uruk train <family>` in `argv`, with that family's own options."""
    parser = _OneLineParser(prog="uruk", description="Uruk neural renderers on the Hugging Face stack.")
    commands = parser.add_subparsers(dest="command", required=True)

    models = commands.add_parser("models", help="list every published model: parameters, budget, subfolder")
    models.set_defaults(handler=_models)

    demo = commands.add_parser("demo", help="build each model and render a synthetic G-buffer to PNGs")
    demo.add_argument("--output", default="demo_output", help="folder for the PNGs (default: demo_output)")
    demo.add_argument("--preset", default="full", choices=PRESET_NAMES, help="model size")
    demo.add_argument("--height", type=int, default=256)
    demo.add_argument("--width", type=int, default=256)
    demo.add_argument("--repeats", type=int, default=3, help="timed forward passes per model")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=_demo)

    data = commands.add_parser("data", help="generate datasets with Mitsuba 3 and measure their baselines")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    generate = data_commands.add_parser("generate", help="render a dataset (resumable, shardable)")
    generate.add_argument("--preset", default="quick", choices=PRESET_NAMES)
    generate.add_argument("--output", required=True, help="dataset folder")
    kinds = list(DATASET_KINDS)
    generate.add_argument("--kind", default=kinds[0], choices=kinds, help=f"dataset kind (default: {kinds[0]})")
    generate.add_argument("--seed", type=_seed, default=0, help="dataset seed, 0..2**63-1 (default: 0)")
    generate.add_argument(
        "--num-shards",
        type=int,
        default=None,
        help="processes sharing the work (default: 1, or the process count under accelerate launch)",
    )
    generate.add_argument("--shard-index", type=int, default=None, help="this process's index in 0..num-shards-1")
    generate.add_argument("--variant", default=None, help="force a Mitsuba variant (default: fastest that runs)")
    generate.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    generate.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty folder that holds no dataset of ours (replacing files of the same names)",
    )
    generate.set_defaults(handler=_data_generate)
    baselines = data_commands.add_parser("baselines", help="compute and print the baselines of a dataset")
    baselines.add_argument("folder", help="a folder made by `uruk data generate`")
    baselines.set_defaults(handler=_data_baselines)

    train = commands.add_parser(
        "train", help="run a family's lifecycle: smoke, calibration, production, distillation (+ gates)"
    )
    train.add_argument("family", choices=family_names(), help="model family")
    train.add_argument("--data", required=True, help="a folder made by `uruk data generate`")
    train.add_argument("--output", required=True, help="run folder")
    train.add_argument("--preset", default="quick", choices=PRESET_NAMES)
    train.add_argument(
        "--resume",
        action="store_true",
        help="reuse finished stages, continue the interrupted one, with the options the run was started with unless "
        "given again (without it, a folder that holds a run is refused)",
    )
    train.add_argument("--seed", type=int, default=0, help=_SEED_HELP)
    train.set_defaults(handler=_train)
    _add_family_options(train, argv or [])

    pipeline = commands.add_parser(
        "pipeline", help="the main job: data, every family's lifecycle, the test-split table (results.json)"
    )
    pipeline.add_argument("--preset", default="quick", choices=PRESET_NAMES)
    pipeline.add_argument(
        "--families",
        default=None,
        help="comma-separated families to run (default: all registered; required ones added)",
    )
    pipeline.add_argument("--output", required=True, help="pipeline folder")
    pipeline.add_argument("--data", default=None, help="reuse this dataset instead of generating OUTPUT/data")
    pipeline.add_argument("--resume", action="store_true", help="reuse finished stages of an interrupted run")
    pipeline.add_argument("--no-publish", action="store_true", help="skip building the repo folder OUTPUT/hub")
    pipeline.add_argument("--seed", type=int, default=0, help=_SEED_HELP)
    pipeline.set_defaults(handler=_pipeline)

    evaluate = commands.add_parser(
        "evaluate", help="renderers and baselines on the test split and on hand-made scenes, at several sizes"
    )
    evaluate.add_argument("--run", default=None, help="a `uruk pipeline` folder (its renderers, data and outputs)")
    evaluate.add_argument("--data", default=None, help="the dataset whose test split is the reference (RUN/data)")
    evaluate.add_argument(
        "--model", action="append", default=[], help="NAME=FOLDER: also evaluate this model folder (repeatable)"
    )
    evaluate.add_argument("--sizes", default="64,128,256", help="resolutions of the hand-made scenes")
    evaluate.add_argument("--scenes", default=None, help="where the rendered hand-made sets are kept")
    evaluate.add_argument("--spp", type=int, default=256, help="ground-truth samples per pixel of the hand-made set")
    evaluate.add_argument(
        "--collection",
        default="evaluation",
        choices=["evaluation", "holdout"],
        help="the hand-made scenes: the six evaluation scenes, or the four held-out ones",
    )
    evaluate.add_argument(
        "--output",
        default=None,
        help="results JSON (default RUN/generalization.json; RUN/generalization_holdout.json for the held-out set)",
    )
    evaluate.set_defaults(handler=_evaluate)

    export = commands.add_parser("export", help="export a trained model to a deployment format")
    export_commands = export.add_subparsers(dest="export_command", required=True)
    onnx = export_commands.add_parser("onnx", help="ONNX through Optimum, validated at two input shapes")
    onnx.add_argument("model_dir", help="a Hub-format model folder (config.json + model.safetensors)")
    onnx.add_argument("--output", required=True, help="folder for model.onnx (may be the model folder itself)")
    onnx.add_argument("--opset", type=int, default=17)
    onnx.set_defaults(handler=_export_onnx)

    publish = commands.add_parser("publish", help="build the Hub repo folder and upload it")
    publish_commands = publish.add_subparsers(dest="publish_command", required=True)
    build = publish_commands.add_parser("build", help="assemble the repo folder from a `uruk pipeline` folder")
    build.add_argument("--runs", required=True, help="a folder written by `uruk pipeline`")
    build.add_argument("--output", required=True, help="the repo folder to build")
    build.add_argument("--repo-id", default="org/uruk", help="the repo id the cards' snippets load from")
    build.set_defaults(handler=_publish_build)
    upload = publish_commands.add_parser("upload", help="upload a built folder (huggingface_hub.upload_folder)")
    upload.add_argument("folder")
    upload.add_argument("--repo-id", required=True, help="ORG/NAME")
    upload.add_argument("--private", action="store_true")
    upload.set_defaults(handler=_publish_upload)
    return parser


def _add_family_options(train: argparse.ArgumentParser, argv: list[str]) -> None:
    """Adds to the `train` parser the options of the family named on a `uruk train <family>` command line
    (families declare their own, e.g. V2-Optimized's `--init-from`), importing only that family's module."""
    if len(argv) < 2 or argv[0] != "train" or argv[1] not in family_names():
        return
    for option in get_family(argv[1]).options:
        if option.is_switch:
            train.add_argument(option.flag, action="store_true", help=option.help)
        else:
            train.add_argument(option.flag, default=None, help=option.help)


BAD_INPUT_ERRORS = (
    ValueError,
    TypeError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
"""Errors that mean the command was given something wrong (a path, a file, a value): exit status 2, as argparse."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `uruk` console script. Errors are printed on one line: exit status 2 for bad arguments
    and inputs (`BAD_INPUT_ERRORS`, as argparse's own), 1 for failures while running (a full disk, a stage that
    diverged)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except BAD_INPUT_ERRORS as error:
        parser.exit(2, f"uruk: error: {_one_line(error)}\n")
    except (OSError, RuntimeError) as error:
        parser.exit(1, f"uruk: error: {_one_line(error)}\n")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
