"""Run-to-run spread of the pipeline's test-split metrics over training seeds.

    uruk pipeline --preset quick --families v2_ultra,v2_optimized --data DATA --output runs/seed1 --seed 1
    python benchmarks/bench_seed_spread.py runs/seed0 runs/seed1 runs/seed2 [--models v2_ultra ...]

Each folder is one `uruk pipeline` run (its `results.json`) of the same dataset and preset with another `--seed`
(runs made before `--seed` existed trained with seed 0). The first table gives every model's metric per seed, the
mean, the sample standard deviation and the range (max - min); the second the claims the README makes from one run
(a model against a baseline or another model), per seed. A difference smaller than the range is inside the noise of
one run.
"""

import argparse
import json
import statistics
from pathlib import Path

from uruk_hf.tables import format_metric, format_table

METRICS = ("psnr", "flip", "material_accuracy", "material_miou", "temporal_error")
"""The metrics whose spread is reported (where a model has them)."""

CLAIMS = (
    ("v2_ultra", "direct", "psnr"),
    ("v2_ultra", "oidn", "psnr"),
    ("v2_ultra", "v2_ultra_scratch", "psnr"),
    ("v2_ultra", "v2_ultra_scratch", "material_miou"),
    ("v2_ultra_teacher", "v2_ultra", "psnr"),
    ("v2_optimized", "v2_ultra", "psnr"),
    ("v2_ultra_ray_reconstruction", "oidn", "psnr"),
)
"""`(model, reference, metric)`: differences the README states from a single run."""


def load_runs(folders: list[str]) -> list[dict]:
    """The `results.json` of each folder; they must share the preset and the test data (the same test sets of the
    dataset kinds they share, and the same score of the `direct` render, wherever the dataset folder was).

    Raises:
        ValueError: a folder has no results, or the runs used other data or presets.
    """
    runs = []
    for folder in folders:
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise ValueError(f"{folder} is not a finished `uruk pipeline` folder: {path} is missing.")
        runs.append(json.loads(path.read_text()))
    shared_kinds = set.intersection(*(set(run["test_sets"]) for run in runs))
    fingerprints = {
        "preset": [run["preset"] for run in runs],
        "test sets": [{kind: run["test_sets"][kind] for kind in sorted(shared_kinds)} for run in runs],
        "direct render's scores": [run["baselines"].get("gbuffer_clips", {}).get("direct") for run in runs],
    }
    for field, values in fingerprints.items():
        if any(value != values[0] for value in values):
            raise ValueError(f"The runs differ in their {field}: {values}; compare runs of one recipe and dataset.")
    return runs


def _metrics(run: dict, name: str) -> dict | None:
    if name in run["models"]:
        return run["models"][name]
    return run["baselines"].get("gbuffer_clips", {}).get(name)


def _summary(values: list[float], key: str) -> list[str]:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return [
        format_metric(key, statistics.fmean(values)),
        format_metric(key, spread),
        format_metric(key, max(values) - min(values)),
    ]


def spread_table(runs: list[dict], models: list[str]) -> str:
    seeds = [str(run.get("seed", 0)) for run in runs]
    rows = []
    for name in models:
        for key in METRICS:
            values = [(_metrics(run, name) or {}).get(key) for run in runs]
            if any(value is None for value in values):
                continue
            rows.append([name, key, *(format_metric(key, value) for value in values), *_summary(values, key)])
    return format_table(["model", "metric", *(f"seed {seed}" for seed in seeds), "mean", "std", "range"], rows)


def claims_table(runs: list[dict]) -> str:
    seeds = [str(run.get("seed", 0)) for run in runs]
    rows = []
    for model, reference, key in CLAIMS:
        pairs = [(_metrics(run, model), _metrics(run, reference)) for run in runs]
        if any(a is None or b is None or key not in a or key not in b for a, b in pairs):
            continue
        values = [a[key] - b[key] for a, b in pairs]
        rows.append([f"{model} - {reference}", key, *(format_metric(key, value) for value in values)])
        rows[-1] += _summary(values, key)
    return format_table(["difference", "metric", *(f"seed {seed}" for seed in seeds), "mean", "std", "range"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="`uruk pipeline` folders of one recipe with different --seed")
    parser.add_argument("--models", nargs="*", default=None, help="models to report (default: every one they share)")
    args = parser.parse_args()
    runs = load_runs(args.runs)
    models = args.models or [name for name in runs[0]["models"] if all(name in run["models"] for run in runs)]
    print(f"{len(runs)} runs, preset {runs[0]['preset']}, test split of {runs[0]['frames']} frames")
    print(spread_table(runs, models))
    print()
    print(claims_table(runs))


if __name__ == "__main__":
    main()
