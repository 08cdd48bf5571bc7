"""The WS8 structure generator family: its registry entry and its lifecycle (DESIGN §4).

Smoke -> Calibration -> Production of the GPT-2 decoder on the shape grammar's token sequences, gated on held-out
log-likelihood above a token bigram's; then, when asked, rounds of **self-training** (expert iteration): the model
samples structures with each block's geometry below temperature 1 (the class, the bounds and the block types at
1), those valid with no repair and of their class are kept, and a short stage trains on them beside some of the
grammar's own, so that what the model samples at temperature 1 moves towards its cooler, more often valid
placements. The grammar's sequences teach the classes, bounds, block types and lengths, not the blocks' geometry:
their wider placements would pull the model back towards the grammar's spread, which it does not place validly
often enough. Each round is judged by the share of fresh samples at temperature 1 kept; the rounds stop when that
share has not risen for more than `_PATIENCE` rounds, and the model is the latest round within a standard error of
the best share (`chosen_round`). Each round's share and kept samples are written to the run folder
(`self_training_rounds/`), so that a resumed run reads them back instead of sampling them again.
"""

import copy
import json
import math
import random
from pathlib import Path

import numpy as np
from torch.utils.data import ConcatDataset

from ...catalog import Family, ModelEntry, TrainOption
from ...file_utils import atomic_path
from ...training.run import (
    TIME_SCALE_OPTION,
    Lifecycle,
    positive_number,
    save_legacy,
    scaled_time_budgets,
    whole_number,
)
from ...training.tasks.structure_generation import SequenceList
from .configuration_ws8_structure import UrukWS8StructureGeneratorConfig
from .modeling_ws8_structure import UrukWS8StructureGenerator

__all__ = ["FAMILY", "chosen_round", "train_ws8"]

_TIME_BUDGETS = {"quick": (180.0, None)}
"""Production seconds at the quick preset."""

_STAGE = {"batch_size": 64, "eval_every": 200, "warmup_steps": 50, "patience": 4}
"""Sequences per step and evaluation interval."""

_CALIBRATION_RATES = (2e-3, 4e-3, 8e-3)
"""Calibration's candidates: a small decoder on a few minutes of CPU takes a higher rate than the presets' default
candidates reach."""


_SELF_TRAINING = {"samples": 4000, "judged_samples": 5000, "learning_rate": 1e-3, "max_steps": 400, "warmup_steps": 20}
"""Per self-training round: structures sampled to train on, structures sampled at temperature 1 to judge the model
by, and the stage's settings (the rate restarts from a short warmup and anneals within the round)."""

SELF_TRAINING_GEOMETRY_TEMPERATURE = 0.5
"""The temperature of each block's extents and offsets in the structures a round samples to train on
(`--self-training-geometry-temperature`, `BlockGeometryTemperatureLogitsProcessor`): cooler placements are valid
more often, while the class, the bounds and the block types keep the model's spread, so the structures stay as
varied in size, place and materials (every token at 0.5 costs about a tenth of the diversity)."""

_DEFAULT_SELF_TRAINING_ROUNDS = {"tiny": 0, "quick": 0, "full": 20}
"""Self-training rounds of each preset when `--self-training-rounds` is not given: none within the quick preset's
minutes; the full preset's model is published self-trained. Up to 20 rounds: at 16, three seeds were 97.0-97.3%
valid on 6,000 samples and two of them still rising; at 20, two seeds 97.7% and 97.8% (the README's WS8 results)."""

_PATIENCE = 3
"""Rounds in a row whose share kept may stay at or below the best before the rounds stop. Late rounds raise the
share by about 0.3-0.5 points each, while one judgement of 5,000 samples carries about 0.25 points of standard
error, so one or two rounds that do not rise are not yet a plateau (with 2,000 samples and a patience of one, the
rounds stopped two to three rounds before validity did)."""

_CHOSEN_WITHIN = 1.0
"""Standard errors of the best round's share kept within which a later round is preferred (`chosen_round`): with a
patience of three, seed 3's best measurement (96.5% kept after round 11) was tied by round 14 and nearly by round 15
(96.4%), whose models were 97.2% and 97.0% valid on 5,000 more samples against round 11's 96.3%."""

_GRAMMAR_SHARE = 0.15
"""The share of a round's training sequences drawn from the grammar's training split (the rest: the kept samples of
the last four rounds), so that the classes, bounds, block types and lengths the model samples do not drift from the
grammar's; the loss leaves out their blocks' extents and offsets (`SequenceList(learn_geometry=False)`)."""


def self_train(
    lifecycle: Lifecycle, model, rounds: int, seed: int, geometry_temperature: float
) -> tuple[object, dict | None]:
    """Up to `rounds` self-training rounds of `model` on its samples with the blocks' geometry at
    `geometry_temperature` (see the module docstring); returns the model holding the weights of the round that
    `chosen_round` picks by the shares kept at temperature 1 (Production's when none is within reach of it) and
    that round's stage record (`None` for Production's). The shares are the lifecycle's `self_training` stage."""
    task, samples = lifecycle.task, _SELF_TRAINING["samples"]
    grammar = lifecycle.train.sequences
    max_steps = min(_SELF_TRAINING["max_steps"], lifecycle.budget.stage.max_steps)  # the tiny preset's few
    warmup_steps = min(_SELF_TRAINING["warmup_steps"], max_steps)
    rounds_folder = lifecycle.output / _ROUNDS_FOLDER
    judging = {"judged_samples": _SELF_TRAINING["judged_samples"], "seed": seed}
    recorded = _read_shares(rounds_folder, judging) if lifecycle.resume else []
    pool, rates, judged, last_record = [], [], [], None  # judged: per share kept, (weights, stage record)
    for round_index in range(1, rounds + 2):
        round_seed = 10_000 * seed + 2 * round_index
        if round_index <= len(recorded):
            rate = recorded[round_index - 1]
        else:
            rate = task.share_kept(model, _SELF_TRAINING["judged_samples"], seed=round_seed)
            with atomic_path(rounds_folder / "shares.json") as temporary:
                temporary.write_text(json.dumps({**judging, "share_kept": [*rates, rate]}, indent=2))
        rates.append(rate)
        judged.append((copy.deepcopy(model.state_dict()), last_record))
        if round_index > rounds or len(rates) - 1 - rates.index(max(rates)) > _PATIENCE:
            break
        sampling = {"samples": samples, "seed": round_seed + 1, "geometry_temperature": geometry_temperature}
        kept_file = rounds_folder / f"kept_{round_index:02d}.npz"
        kept = _read_kept(kept_file, sampling) if lifecycle.resume else None
        if kept is None:
            kept, _ = task.self_training_sequences(model, samples, round_seed + 1, geometry_temperature)
            _write_kept(kept_file, kept, sampling)
        pool = (pool + kept)[-4 * samples :]
        if not pool:
            break
        shuffle = random.Random(round_seed)
        anchors = shuffle.sample(grammar, round(len(pool) * _GRAMMAR_SHARE / (1 - _GRAMMAR_SHARE)))
        mixed = ConcatDataset([SequenceList(pool), SequenceList(anchors, learn_geometry=False)])
        (last_record,) = lifecycle.accelerate_curriculum(
            model,
            [(f"self_training_{round_index}", None, None)],
            _SELF_TRAINING["learning_rate"],
            None,
            [lifecycle.gate()],
            train_dataset=mixed,
            max_steps=max_steps,
            warmup_steps=warmup_steps,
            eval_every=max_steps,
        )
    chosen = chosen_round(rates, _SELF_TRAINING["judged_samples"])
    model.load_state_dict(judged[chosen][0])
    lifecycle.stages["self_training"] = {
        "stage": "self_training",
        "samples_per_round": samples,
        "geometry_temperature": geometry_temperature,
        "judged_samples": _SELF_TRAINING["judged_samples"],
        "grammar_share": _GRAMMAR_SHARE,
        "grammar_teaches_geometry": False,
        "share_kept": rates,
        "patience": _PATIENCE,
        "rounds_trained": len(rates) - 1,
        "chosen_round": chosen,
        "chosen_within_standard_errors": _CHOSEN_WITHIN,
    }
    return model, judged[chosen][1]


def chosen_round(shares: list[float], judged_samples: int) -> int:
    """The round (0: Production) whose model self-training keeps: the latest whose share kept is within
    `_CHOSEN_WITHIN` binomial standard errors of the best share (of `judged_samples` samples). Each share is one
    noisy measurement while late rounds still raise the true share slowly, so the best measurement is as often a
    lucky draw as a better model; among the rounds the judge cannot tell from the best, the one trained longest."""
    best = max(shares)
    floor = best - _CHOSEN_WITHIN * math.sqrt(best * (1 - best) / judged_samples)
    return max(index for index, share in enumerate(shares) if share >= floor)


_ROUNDS_FOLDER = "self_training_rounds"
"""The run folder's folder of each round's share kept (`shares.json`) and kept samples (`kept_<round>.npz`)."""


def _read_shares(folder: Path, judging: dict) -> list[float]:
    """The shares kept recorded by an earlier run of the rounds, if it judged them as `judging` says."""
    path = folder / "shares.json"
    if not path.is_file():
        return []
    record = json.loads(path.read_text())
    return list(record["share_kept"]) if all(record.get(key) == value for key, value in judging.items()) else []


def _write_kept(path: Path, kept: list[np.ndarray], sampling: dict) -> None:
    """A round's kept sequences, `-1`-padded rows and their lengths, with the settings they were sampled under."""
    lengths = np.asarray([len(sequence) for sequence in kept], np.int64)
    tokens = np.full((len(kept), int(lengths.max(initial=0))), -1, np.int64)
    for row, sequence in enumerate(kept):
        tokens[row, : len(sequence)] = sequence
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, tokens=tokens, lengths=lengths, **{key: np.asarray(value) for key, value in sampling.items()})


def _read_kept(path: Path, sampling: dict) -> list[np.ndarray] | None:
    """The kept sequences `_write_kept` wrote, if they were sampled as `sampling` says; otherwise `None`."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as saved:
        if any(saved[key].item() != value for key, value in sampling.items()):
            return None
        return [row[:length] for row, length in zip(saved["tokens"], saved["lengths"], strict=True)]


def _self_trained_record(lifecycle: Lifecycle, production: dict, chosen: dict) -> dict:
    """The training record of a self-trained model (its `training_record.json`, its card's stage table): Production
    and the rounds up to the chosen one, each trained from the one before, with the rounds' summary."""
    summary = lifecycle.stages["self_training"]
    rounds = [lifecycle.stages[f"self_training_{index}"] for index in range(1, summary["chosen_round"] + 1)]
    record = {"stage": chosen["stage"], "stages": [production, *rounds], "best": chosen["best"]}
    return {**record, "self_training": summary}


def _round_count(value: str | int) -> int:
    """`--self-training-rounds` as a whole number of rounds (0 for none); a clear error otherwise."""
    return whole_number(value, "--self-training-rounds", 0, "rounds (0 for none)")


def train_ws8(
    data: Path,
    output: Path,
    preset: str,
    resume: bool,
    seed: int = 0,
    time_scale: str | None = None,
    self_training_rounds: str | None = None,
    self_training_geometry_temperature: str | None = None,
) -> dict:
    """Production of the structure generator (its budget times `time_scale`), then `self_training_rounds` rounds of
    self-training (by default the preset's: none at tiny and quick) on samples whose blocks' geometry is at
    `self_training_geometry_temperature` (`SELF_TRAINING_GEOMETRY_TEMPERATURE` by default); writes the model and
    `ws8_structure_generator/best_model.pt`."""
    budgets = scaled_time_budgets(_TIME_BUDGETS, time_scale)
    lifecycle = Lifecycle(
        FAMILY, data, output, preset, resume, budgets, _STAGE, calibration_learning_rates=_CALIBRATION_RATES, seed=seed
    )
    key = "ws8_structure_generator"
    model, record, learning_rate = lifecycle.train_model(key, None)
    stage = "production"
    rounds = _DEFAULT_SELF_TRAINING_ROUNDS[preset]
    if self_training_rounds is not None:
        rounds = _round_count(self_training_rounds)
    temperature = SELF_TRAINING_GEOMETRY_TEMPERATURE
    if self_training_geometry_temperature is not None:
        temperature = positive_number(self_training_geometry_temperature, "--self-training-geometry-temperature")
    if rounds:
        model, round_record = self_train(lifecycle, model, rounds, seed, temperature)
        if round_record is not None:
            record, stage = _self_trained_record(lifecycle, record, round_record), round_record["stage"]
            lifecycle.save_model(key, model, record)
    save_legacy(model, lifecycle.legacy_path(key), stage, record["best"])
    settings = {"learning_rate": learning_rate, "time_scale": time_scale, "self_training_rounds": rounds}
    if rounds:
        settings["self_training_geometry_temperature"] = temperature
    return lifecycle.write(settings)


FAMILY = Family(
    name="ws8",
    title="WS8 structure generator",
    dataset_kind="block_structures",
    task="uruk_hf.training.tasks.structure_generation:StructureGenerationTask",
    train=train_ws8,
    options=(
        TIME_SCALE_OPTION,
        TrainOption(
            "--self-training-rounds",
            "after Production, up to this many rounds of training on the model's own valid samples of their class "
            "(4,000 sampled to train on and 5,000 to judge each round by, about 5 minutes a round on one core at "
            "quick size; by default none at the quick preset, 20 at full; 0 for none)",
        ),
        TrainOption(
            "--self-training-geometry-temperature",
            "the temperature of each block's extents and offsets in the structures self-training samples (default "
            f"{SELF_TRAINING_GEOMETRY_TEMPERATURE}; the class, bounds and block types stay at 1): lower is more often "
            "valid",
        ),
    ),
    onnx_config="uruk_hf.models.ws8_structure.onnx_ws8_structure:UrukWS8StructureGeneratorOnnxConfig",
    models=(
        ModelEntry(
            key="ws8_structure_generator",
            model_class=UrukWS8StructureGenerator,
            config_class=UrukWS8StructureGeneratorConfig,
            run_folder="ws8/models/ws8_structure_generator",
            subfolder="ws8_structure_generator",
            budget=2_830_000,
            description=(
                "WS8 structure generator: block structures (tower, wall, arch, bridge, stairs, house) on a 32^3 grid, "
                "sampled token by token with `generate()` from a class token or completed from a user's partial "
                "structure, learned from the library's shape grammar."
            ),
            legacy_files=("ws8_structure_generator/best_model.pt",),
            curve=("ws8/production",),
            seed_claims=(("WS8: structure generator", None, "validity and class adherence of 1,000 samples"),),
        ),
    ),
    limitations={
        "ws8_structure_generator": [
            "It learns the library's shape grammar, which it was trained on: the grammar itself is always valid and "
            "faster, so the model earns its place by completing partial structures and sampling a learned "
            "distribution, not by beating the grammar at its own classes.",
            "It never repairs a sample: an invalid structure (a floating or overlapping block) is returned as is "
            "and counted in the validity rate; check `Structure.is_valid` before building one.",
        ]
    },
)
