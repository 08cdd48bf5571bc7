"""The dataset-folder driver every data generator shares: chunks, shards, resume, the determinism record and the
finalizing step (baselines file, dataset card).

A dataset is `num_items` items (a clip, an episode, a level: whatever the generator makes from one seed and an
index) grouped into chunks of `items_per_chunk`. Each chunk belongs to one split (so splits never share an item)
and is written as one Parquet file, `data/<split>-<chunk>.parquet`, atomically: a killed run leaves either the
whole file or none, and a rerun skips finished chunks. Processes split the chunks round-robin
(`--num-shards N --shard-index I`, or `accelerate launch`); the one that finds every chunk written finalizes the
folder through its generator (baselines, example grid, dataset card), so the folder loads with
`datasets.load_dataset(folder)`.

A generator (`DatasetGenerator`) says what an item is; this module never looks inside one.
"""

import contextlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from ..file_utils import atomic_path

__all__ = [
    "MAX_SEED",
    "DatasetGenerator",
    "check_seed",
    "chunk_path",
    "chunk_splits",
    "dataset_card",
    "generate_dataset",
    "generation_record",
    "load_split",
    "open_split",
    "quiet_datasets",
    "resolve_preset",
]


class DatasetGenerator:
    """What a kind of dataset is made of; subclasses implement every method (`finalize` either itself or through
    `measure_baselines` and `card`).

    Attributes:
        kind (`str`): the dataset kind (`catalog.DATASET_KINDS` key).
        version (`str`): bumped whenever the same settings would produce different data.
        presets (`dict[str, object]`): dataclass presets by name (`tiny`, `quick`, `full`), each with `name`,
            `num_items`, `items_per_chunk`, `validation_fraction` and `test_fraction`.
        report_baselines (`tuple[str, ...]`): the keys of `baselines.json` the pipeline reports beside the models.
    """

    kind: str = ""
    version: str = ""
    presets: dict = {}
    report_baselines: tuple[str, ...] = ()

    def features(self, preset):
        """The `datasets.Features` of a row."""
        raise NotImplementedError

    def environment(self, variant: str | None) -> dict:
        """The settings beyond preset and seed that decide the bytes written (e.g. the renderer and its
        variant); a resume with a different environment is refused."""
        raise NotImplementedError

    def start(self, preset, seed: int, environment: dict):
        """A worker for this process: `worker.rows(index, split) -> list[dict]` makes one item's rows and
        `worker.timing() -> dict` reports cumulative timings (added to each chunk's log)."""
        raise NotImplementedError

    def finalize(self, folder: Path) -> dict:
        """Computes the baselines of a complete folder (`measure_baselines`), writes `baselines.json` and the
        dataset card (`card`, as `README.md`); returns the baselines.

        Raises:
            FileNotFoundError: a chunk is missing (`check_complete`).
        """
        folder = Path(folder)
        record = check_complete(folder)
        baselines = self.measure_baselines(folder, record)
        with atomic_path(folder / "baselines.json") as temporary:
            temporary.write_text(json.dumps(baselines, indent=2))
        with atomic_path(folder / "README.md") as temporary:
            temporary.write_text(self.card(folder, record, baselines))
        return baselines

    def measure_baselines(self, folder: Path, record: dict) -> dict:
        """The baselines of the complete folder `folder` generated as `record` (`generation.json`) says."""
        raise NotImplementedError

    def card(self, folder: Path, record: dict, baselines: dict) -> str:
        """The dataset card (`README.md`) of the complete folder, with its `baselines`."""
        raise NotImplementedError

    def describe_baselines(self, results: dict) -> str:
        """`results` of `finalize` as text for `uruk data baselines` (a heading line and tables)."""
        raise NotImplementedError


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """Silences the `datasets` library's per-operation progress bars inside the block (ours report progress)."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def open_split(folder: str | Path, split: str):
    """`datasets.load_dataset(folder, split=split)` of a generated dataset, quietly.

    Raises:
        FileNotFoundError: `folder` does not exist.
        ValueError: a file under `data/` is not a chunk like the others (another dataset's Parquet file, or no
            Parquet at all): the message names it, where `datasets` would name whichever file it compared it with.
    """
    from datasets import load_dataset
    from datasets.exceptions import DatasetGenerationError

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No dataset folder at {folder}.")
    cache = _cache_dir(folder)
    # `datasets` logs a failed cast naming whichever chunk it compared the odd one with; the error below names it.
    parquet_logger = logging.getLogger("datasets.packaged_modules.parquet.parquet")
    level = parquet_logger.level
    parquet_logger.setLevel(logging.CRITICAL)
    try:
        with quiet_datasets():
            return load_dataset(str(folder), split=split, cache_dir=str(cache))
    except DatasetGenerationError as error:
        odd = _odd_chunks(folder)
        if not odd:
            raise
        raise ValueError(
            f"{odd[0]} is not a chunk like the others of {folder} ({len(odd)} such files); delete it and rerun "
            "`uruk data generate` with the same settings to render it again."
        ) from error
    finally:
        parquet_logger.setLevel(level)


def _cache_dir(folder: Path) -> Path:
    """Where `datasets` keeps its Arrow copy of `folder`: `folder/.cache/<fingerprint>`, the fingerprint of every
    chunk's name, size and modification time. `datasets` keys its own cache of a local folder by the folder's name
    and file patterns only, so a folder generated again (another seed, generator version or preset) would load the
    old rows; a new fingerprint makes a new copy, and the stale ones are removed."""
    import hashlib
    import shutil

    digest = hashlib.sha256()
    for path in sorted((folder / "data").glob("*.parquet")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    cache = folder / ".cache" / digest.hexdigest()[:16]
    if (folder / ".cache").is_dir():
        for stale in (folder / ".cache").iterdir():
            if stale != cache:
                shutil.rmtree(stale, ignore_errors=True)
    return cache


def _odd_chunks(folder: Path) -> list[str]:
    """The Parquet files of `folder/data` that are unreadable or whose columns differ from most chunks'."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas, unreadable = {}, []
    for path in sorted((folder / "data").glob("*.parquet")):
        try:
            schemas[str(path)] = pq.read_schema(path).remove_metadata()
        except (pa.ArrowException, OSError):
            unreadable.append(str(path))
    if not schemas:
        return unreadable
    counts = [sum(other == schema for other in schemas.values()) for schema in schemas.values()]
    common = list(schemas.values())[counts.index(max(counts))]
    return unreadable + [path for path, schema in schemas.items() if schema != common]


def dataset_card(body: str, splits, **metadata) -> str:
    """A dataset card (`README.md`): the YAML front matter (Apache-2.0, one `default` config with the Parquet chunks
    of each of `splits`, and `metadata` such as `tags` or `task_categories`, as `huggingface_hub.DatasetCardData`
    takes them) above the Markdown `body`."""
    from huggingface_hub import DatasetCard, DatasetCardData

    data_files = [{"split": split, "path": f"data/{split}-*.parquet"} for split in splits]
    card_data = DatasetCardData(
        license="apache-2.0", configs=[{"config_name": "default", "data_files": data_files}], **metadata
    )
    return str(DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}"))


def load_split(folder: str | Path, split: str, columns: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every row of `split` of a generated dataset as stacked numpy arrays, optionally only `columns`."""
    dataset = open_split(folder, split)
    if columns is not None:
        dataset = dataset.select_columns(columns)
    return dict(dataset.with_format("numpy")[:])


def resolve_preset(generator: DatasetGenerator, preset):
    """`preset` itself, or the generator's preset of that name."""
    if not isinstance(preset, str):
        return preset
    if preset not in generator.presets:
        raise ValueError(f"Unknown data preset {preset!r}; choose one of {sorted(generator.presets)}.")
    return generator.presets[preset]


def num_chunks(preset) -> int:
    """Parquet files in a whole dataset of `preset`."""
    return math.ceil(preset.num_items / preset.items_per_chunk)


def chunk_splits(preset, seed: int) -> list[str]:
    """The split of every chunk: a seeded permutation of chunks, the first ones test, then validation, then
    train. Splits are disjoint by item because a chunk has one split."""
    count = num_chunks(preset)
    test = max(1, round(count * preset.test_fraction))
    validation = max(1, round(count * preset.validation_fraction))
    if test + validation >= count:
        raise ValueError(f"Preset {preset.name!r} has {count} chunks: too few for train, validation and test.")
    order = np.random.default_rng([seed, 104729]).permutation(count)
    splits = ["train"] * count
    for position, chunk in enumerate(order):
        splits[chunk] = "test" if position < test else "validation" if position < test + validation else "train"
    return splits


RECORDED_WHEN_SET = "recorded_when_set"
"""Metadata key of a preset field added after datasets were made without it: the field enters `generation.json`
only when it differs from its default, so the records of earlier folders, made with the default, still match."""


def preset_record(preset) -> dict:
    """The preset as `generation.json` records it: `asdict`, less the `RECORDED_WHEN_SET` fields at their
    defaults."""
    record = asdict(preset)
    for field in fields(preset):
        if field.metadata.get(RECORDED_WHEN_SET) and getattr(preset, field.name) == field.default:
            del record[field.name]
    return record


def generation_record(generator: DatasetGenerator, preset, seed: int, environment: dict) -> dict:
    """`generation.json`: what decides the bytes of a dataset folder (compared on resume)."""
    return {
        "dataset_kind": generator.kind,
        "generator_version": generator.version,
        "preset": preset_record(preset),
        "seed": seed,
        **environment,
        "splits": chunk_splits(preset, seed),
    }


def chunk_path(output: Path, split: str, chunk: int) -> Path:
    """Where chunk `chunk` of split `split` is written."""
    return Path(output) / "data" / f"{split}-{chunk:05d}.parquet"


MAX_SEED = 2**63 - 1
"""The largest dataset seed: seeds are signed 64-bit integers wherever they are stored or passed on."""

_OUR_TRANSIENT_FILES = re.compile(r"^\.write-test-\d+$|^\..+\.partial$")
"""Files a concurrent shard of the same dataset may be writing before its `generation.json` exists."""


def check_seed(seed) -> int:
    """`seed` as an int in `0..MAX_SEED`.

    Raises:
        ValueError: `seed` is not an integer in that range.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"The seed must be an integer in 0..{MAX_SEED} (2**63 - 1), got {seed!r}.")
    return int(seed)


def check_not_foreign(output: Path, record_name: str = "generation.json", overwrite: bool = False) -> None:
    """Refuses to write into `output` when it is a non-empty folder that holds no `record_name` (so is not one of
    ours, resumable), unless `overwrite`.

    Raises:
        FileExistsError: `output` is a file, or a non-empty folder of someone else's files (the message names some).
    """
    if not output.exists():
        return
    if not output.is_dir():
        raise FileExistsError(f"{output} is a file, not a folder.")
    if overwrite or (output / record_name).exists():
        return
    entries = sorted(entry.name for entry in output.iterdir() if not _OUR_TRANSIENT_FILES.match(entry.name))
    if entries:
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise FileExistsError(
            f"{output} is not empty ({shown}) and holds no {record_name}, so it is not a folder of ours to resume: "
            "nothing was written. Choose a new or empty folder, or pass --overwrite to write into it (files of the "
            "same names are replaced)."
        )


def _remove_leftovers(path: Path) -> None:
    """Deletes what an interrupted atomic write of `path` left beside it (`.<name>.<random>.partial`)."""
    for leftover in path.parent.glob(f".{path.name}.*.partial"):
        leftover.unlink(missing_ok=True)


def check_chunk(path: Path, features) -> None:
    """Raises `ValueError` naming `path` unless it is a Parquet file with exactly the columns and types of
    `features` (another dataset's file, or no Parquet at all, left under a chunk's name)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as error:
        raise ValueError(
            f"{path} is not a Parquet chunk ({error}); delete it and rerun the same command to render it again."
        ) from error
    expected = features.arrow_schema
    if schema.remove_metadata() != expected.remove_metadata():
        different = sorted(
            set(schema.names) ^ set(expected.names)
            | {name for name in set(schema.names) & set(expected.names) if schema.field(name) != expected.field(name)}
        )
        shown = ", ".join(different[:6]) + (f" and {len(different) - 6} more" if len(different) > 6 else "")
        raise ValueError(
            f"{path} is not a chunk of this dataset: its columns differ in {shown}; delete it and rerun the same "
            "command to render it again."
        )


def _check_output(output: Path) -> None:
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = output / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise PermissionError(f"Output folder {output} is not writable: {error}") from error


def _write_chunk(path: Path, rows: list[dict], features) -> None:
    from datasets.arrow_writer import ParquetWriter

    columns = {name: [row[name] for row in rows] for name in features}
    try:
        with atomic_path(path) as temporary:
            writer = ParquetWriter(path=str(temporary), features=features)
            writer.write_batch(columns)
            writer.finalize()
    except OSError as error:
        raise OSError(
            error.errno,
            f"Could not write {path}: {error.strerror or error}. The chunks written before it are whole; free space "
            "and rerun the same command to resume",
        ) from error


def _resolve_shards(num_shards: int | None, shard_index: int | None) -> tuple[int, int, object]:
    if num_shards is None and shard_index is None:
        from accelerate import PartialState

        # cpu=True: generating needs no torch device, and without it Accelerate treats a CPU-only
        # `accelerate launch --multi_gpu` as a single process instead of a gloo group.
        state = PartialState(cpu=True)
        return state.num_processes, state.process_index, state
    num_shards = 1 if num_shards is None else num_shards
    shard_index = 0 if shard_index is None else shard_index
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(
            f"--shard-index {shard_index} is out of range for --num-shards {num_shards} (0..{num_shards - 1})."
        )
    return num_shards, shard_index, None


def _variant(environment: dict) -> str | None:
    """The generator's backend variant (the environment's `*variant` entry), reported in summaries and logs."""
    return next((value for key, value in environment.items() if key.endswith("variant")), None)


def _check_resume(output: Path, record: dict) -> None:
    record_path = output / "generation.json"
    if record_path.exists():
        existing = json.loads(record_path.read_text())
        if existing != record:
            changed = sorted(key for key in record if existing.get(key) != record[key])
            raise ValueError(
                f"{output} holds a dataset generated with other settings ({', '.join(changed)} differ); "
                "use a new folder or the same settings to resume."
            )
    else:
        with atomic_path(record_path) as temporary:
            temporary.write_text(json.dumps(record, indent=2))


def generate_dataset(
    generator: DatasetGenerator,
    output: str | Path,
    preset="quick",
    seed: int = 0,
    num_shards: int | None = None,
    shard_index: int | None = None,
    variant: str | None = None,
    progress: bool = True,
    finalize: bool = True,
    overwrite: bool = False,
) -> dict:
    """Generates (or completes) a dataset of `generator`'s kind in `output`; returns a summary of what this
    process did.

    Args:
        generator: the `DatasetGenerator` of the dataset kind.
        output: the dataset folder (created if needed).
        preset: a name of `generator.presets` or a preset object.
        seed: the dataset seed; the same seed, preset and environment give byte-identical arrays.
        num_shards, shard_index: this process makes chunks `shard_index, shard_index + num_shards, ...`. Left
            out, they come from Accelerate (`accelerate launch`), or 1 and 0.
        variant: the generator's backend variant to force (e.g. a Mitsuba variant); by default its fastest.
        progress: show a progress bar.
        finalize: when every chunk exists, compute baselines and write the dataset card.
        overwrite: write into a non-empty folder that holds no dataset of ours (refused otherwise).

    Raises:
        ValueError: unknown preset, a seed outside `0..MAX_SEED`, shard index out of range, a folder holding a
            dataset made with other settings (another seed, preset, generator version or environment), or a file
            under a chunk's name that is not that chunk.
        FileExistsError: `output` is a non-empty folder of other files (see `overwrite`).
        PermissionError: the output folder cannot be written.
        OSError: a chunk could not be written (e.g. the disk is full); what was written before is whole.
    """
    from tqdm.auto import tqdm

    preset = resolve_preset(generator, preset)
    seed = check_seed(seed)
    output = Path(output)
    num_shards, shard_index, state = _resolve_shards(num_shards, shard_index)
    check_not_foreign(output, overwrite=overwrite)
    _check_output(output)
    environment = generator.environment(variant)
    record = generation_record(generator, preset, seed, environment)
    _check_resume(output, record)

    splits = record["splits"]
    features = generator.features(preset)
    worker = generator.start(preset, seed, environment)
    mine = [chunk for chunk in range(num_chunks(preset)) if chunk % num_shards == shard_index]
    for chunk in mine:  # only this shard writes these files: what a killed run of it left is garbage
        _remove_leftovers(chunk_path(output, splits[chunk], chunk))
        _remove_leftovers(output / "logs" / f"chunk-{chunk:05d}.json")
    todo = [chunk for chunk in mine if not chunk_path(output, splits[chunk], chunk).exists()]
    for chunk in set(mine) - set(todo):
        check_chunk(chunk_path(output, splits[chunk], chunk), features)
    started = time.perf_counter()
    rows_written = 0
    bar = tqdm(
        total=len(todo) * preset.items_per_chunk,
        desc=f"shard {shard_index}/{num_shards}",
        unit="item",
        disable=not progress,
    )
    for chunk in todo:
        chunk_started, before = time.perf_counter(), worker.timing()
        rows = []
        items = range(chunk * preset.items_per_chunk, min((chunk + 1) * preset.items_per_chunk, preset.num_items))
        for index in items:
            rows += worker.rows(index, splits[chunk])
            bar.update(1)
        _write_chunk(chunk_path(output, splits[chunk], chunk), rows, features)
        rows_written += len(rows)
        after = worker.timing()
        timing = {
            "frames": len(rows),
            "seconds": time.perf_counter() - chunk_started,
            **{key: after[key] - before[key] for key in after if isinstance(after[key], int | float)},
            "variant": _variant(environment),
        }
        with atomic_path(output / "logs" / f"chunk-{chunk:05d}.json") as temporary:
            temporary.write_text(json.dumps(timing))
    bar.close()
    totals = worker.timing()
    summary = {
        "shard_index": shard_index,
        "num_shards": num_shards,
        "chunks_written": len(todo),
        "chunks_skipped": len(mine) - len(todo),
        "frames_written": rows_written,
        "seconds": time.perf_counter() - started,
        **totals,
        "variant": _variant(environment),
        "environment": environment,
    }
    if state is not None:
        state.wait_for_everyone()
    complete = all(chunk_path(output, splits[chunk], chunk).exists() for chunk in range(num_chunks(preset)))
    summary["complete"] = complete
    is_main = state is None or state.is_main_process
    if finalize and complete and is_main:
        for name in ("generation.json", "baselines.json", "examples.png", "README.md"):
            _remove_leftovers(output / name)
        generator.finalize(output)
    return summary


def check_complete(folder: Path) -> dict:
    """The generation record of a folder whose chunks are all written.

    Raises:
        FileNotFoundError: a chunk is missing (the message counts them and names one).
    """
    record = json.loads((folder / "generation.json").read_text())
    missing = [
        str(chunk_path(folder, split, chunk))
        for chunk, split in enumerate(record["splits"])
        if not chunk_path(folder, split, chunk).exists()
    ]
    if missing:
        raise FileNotFoundError(f"{folder} is incomplete: {len(missing)} chunks missing, e.g. {missing[0]}.")
    return record
