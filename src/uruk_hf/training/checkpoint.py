"""Training checkpoints that cannot carry code, verified before they are read, from which a run resumes exactly.

Accelerate's `save_state` pickles registered objects and reloads them with `weights_only=False`, so a file planted
in a run folder would execute on `--resume`. The stage loop therefore writes its own checkpoint, every file in a
format that holds data only:

- `model.safetensors`: the model's weights;
- `optimizer.pt`: the optimizer's state dict (tensors and plain containers; read with `weights_only=True`);
- `task_state.pt`: the task's own auxiliary models and optimizers (WS5's patch discriminator), when it has any;
- `weight_average.safetensors`: the moving average of the weights (`averaging.WeightAverage`), when the stage
  keeps one;
- `random_states_<process>.safetensors`: each process's torch (and CUDA) and numpy generator states, with Python's
  `random` state as JSON in its metadata;
- `scaler.json`: the mixed-precision gradient scaler, when there is one;
- `progress.json`: the stage's decisions and its position in the data (epoch, batches of that epoch done);
- `checkpoint_complete.json`, written last: the size and SHA-256 of every file above.

Before anything is read, every file is checked against that record; a file that differs (truncated, replaced) is
refused with an error naming it, and files the record does not list are never read (a warning names them). The
distillation Trainer's checkpoints get the same record, and every pickle the Trainer reads on resume is first
loaded here with `weights_only=True` (which refuses anything but tensors and plain data), so it is refused before
the Trainer touches it.
"""

import hashlib
import json
import logging
import random
import time
from pathlib import Path

import numpy as np
import torch

from ..serialization import UnreadableFileError, load_safetensors_file, load_torch_file

__all__ = [
    "CHECKPOINT_MARKER",
    "TRAINER_RESUME_PICKLES",
    "CheckpointError",
    "check_trainer_checkpoint",
    "load_random_states",
    "load_stage_checkpoint",
    "save_random_states",
    "save_stage_checkpoint",
    "verify_checkpoint",
    "write_checkpoint_marker",
]

logger = logging.getLogger(__name__)

CHECKPOINT_MARKER = "checkpoint_complete.json"
"""Written last into a checkpoint folder: the files of the checkpoint with their sizes and SHA-256."""

MODEL_FILE, OPTIMIZER_FILE, TASK_STATE_FILE = "model.safetensors", "optimizer.pt", "task_state.pt"
SCALER_FILE, PROGRESS_FILE = "scaler.json", "progress.json"
AVERAGE_FILE = "weight_average.safetensors"

TRAINER_RESUME_PICKLES = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state.pth", "pytorch_model.bin")
"""The pickled files `transformers.Trainer` reads when it resumes (`rng_state_<process>.pth` too)."""


class CheckpointError(UnreadableFileError):
    """A checkpoint cannot be resumed from: a file differs from what was written, is missing, or holds something
    other than data."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checkpoint_marker(folder: Path, **extra) -> None:
    """Writes `folder/checkpoint_complete.json`, listing every file under `folder` (size and SHA-256) plus
    `extra`; it is the last file written, so its presence tells a complete checkpoint from an interrupted one."""
    files = {
        str(path.relative_to(folder)): {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != CHECKPOINT_MARKER
    }
    (folder / CHECKPOINT_MARKER).write_text(json.dumps({"time": time.time(), **extra, "files": files}, indent=1))


def verify_checkpoint(folder: Path) -> dict:
    """Checks every file listed in `folder`'s marker against its size and SHA-256 and returns the marker.

    Raises:
        CheckpointError: the marker lists no files (a checkpoint of an older version, whose Accelerate pickles are
            not read), or a listed file is missing or differs from what was written.
    """
    marker_path = folder / CHECKPOINT_MARKER
    try:
        marker = json.loads(marker_path.read_text())
    except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{marker_path} is not a checkpoint record: {error}.") from error
    files = marker.get("files") if isinstance(marker, dict) else None
    if not isinstance(files, dict) or not files:
        raise CheckpointError(
            f"{folder} is a checkpoint without a file record (written by an older uruk_hf through Accelerate's "
            "pickles): it is not read. Delete the folder to restart the stage."
        )
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"{path} is missing from the checkpoint {folder}.")
        size = path.stat().st_size
        if size != expected.get("bytes") or _sha256(path) != expected.get("sha256"):
            raise CheckpointError(
                f"{path} differs from the file the checkpoint wrote ({size} bytes, {expected.get('bytes')} written): "
                "it was truncated or replaced, and is not read."
            )
    unlisted = sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and path.name != CHECKPOINT_MARKER and str(path.relative_to(folder)) not in files
    )
    if unlisted:
        logger.warning("%s holds files the checkpoint did not write, which are never read: %s", folder, unlisted)
    return marker


def save_random_states(path: Path) -> None:
    """Writes this process's torch, CUDA, numpy and Python `random` states to a safetensors file (Python's and
    numpy's scalars in its metadata, as JSON)."""
    from safetensors.torch import save_file

    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    tensors = {"torch": torch.get_rng_state(), "numpy_keys": torch.from_numpy(keys.astype(np.int64))}
    if torch.cuda.is_available():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda_{index}"] = state
    version, internal, gauss_next = random.getstate()
    metadata = {
        "numpy": json.dumps([kind, int(position), int(has_gauss), float(cached_gaussian)]),
        "python": json.dumps([version, list(internal), gauss_next]),
    }
    save_file(tensors, str(path), metadata=metadata)


def load_random_states(path: Path) -> None:
    """Restores the states `save_random_states` wrote.

    Raises:
        CheckpointError: the file is not such a record.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (not a dict)
        kind, position, has_gauss, cached_gaussian = json.loads(metadata["numpy"])
        version, internal, gauss_next = json.loads(metadata["python"])
        torch.set_rng_state(tensors["torch"])
        np.random.set_state(
            (kind, tensors["numpy_keys"].numpy().astype(np.uint32), position, has_gauss, cached_gaussian)
        )
        random.setstate((version, tuple(internal), gauss_next))
    except (SafetensorError, KeyError, ValueError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"{path} is not a record of random states: {error}.") from error
    cuda = sorted(name for name in tensors if name.startswith("cuda_"))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[name] for name in cuda][: torch.cuda.device_count()])


def save_stage_checkpoint(
    folder: Path, accelerator, model, optimizer, task, progress_state: dict, average=None
) -> None:
    """Writes a stage checkpoint into `folder` (every process its random states, the main process the rest, with
    the `WeightAverage` `average` when there is one); the caller writes the marker once every process is done."""
    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    save_random_states(folder / f"random_states_{accelerator.process_index}.safetensors")
    if not accelerator.is_main_process:
        return
    save_model(accelerator.unwrap_model(model), str(folder / MODEL_FILE))
    torch.save(optimizer.state_dict(), folder / OPTIMIZER_FILE)
    task_state = task.state_dict()
    if task_state:
        torch.save(task_state, folder / TASK_STATE_FILE)
    if getattr(accelerator, "scaler", None) is not None:
        (folder / SCALER_FILE).write_text(json.dumps(accelerator.scaler.state_dict()))
    if average is not None:
        average.save(folder / AVERAGE_FILE)
    (folder / PROGRESS_FILE).write_text(json.dumps(progress_state))


def load_stage_checkpoint(folder: Path, accelerator, model, optimizer, task, average=None) -> dict:
    """Verifies `folder` (`verify_checkpoint`), restores model, optimizer, task state, scaler, the `WeightAverage`
    `average` (when the stage keeps one) and this process's random states from it, and returns the saved progress
    state.

    Raises:
        CheckpointError: a file differs from what was written, or is not what its name says, or the stage keeps a
            weight average and the checkpoint has none.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    verify_checkpoint(folder)
    try:
        load_model(accelerator.unwrap_model(model), str(folder / MODEL_FILE), strict=True)
    except (SafetensorError, RuntimeError) as error:
        raise CheckpointError(f"{folder / MODEL_FILE} does not hold this model's weights: {error}.") from error
    optimizer.load_state_dict(load_torch_file(folder / OPTIMIZER_FILE, what="optimizer state"))
    if (folder / TASK_STATE_FILE).is_file():
        task.load_state_dict(load_torch_file(folder / TASK_STATE_FILE, what="task state"), accelerator.device)
    if (folder / SCALER_FILE).is_file() and getattr(accelerator, "scaler", None) is not None:
        accelerator.scaler.load_state_dict(json.loads((folder / SCALER_FILE).read_text()))
    random_states = folder / f"random_states_{accelerator.process_index}.safetensors"
    if not random_states.is_file():
        raise CheckpointError(
            f"{folder} has no random states for process {accelerator.process_index}: it was written by fewer "
            "processes; resume with the same number of processes."
        )
    load_random_states(random_states)
    try:
        progress_state = json.loads((folder / PROGRESS_FILE).read_text())
        steps = int(progress_state["step"])
    except (OSError, ValueError, KeyError, TypeError) as error:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
        raise CheckpointError(f"{folder / PROGRESS_FILE} is not a progress record: {error}.") from error
    if average is not None:
        if not (folder / AVERAGE_FILE).is_file():
            raise CheckpointError(
                f"{folder} has no {AVERAGE_FILE}: it was written by a stage without a weight average "
                "(ema_max_decay); resume with the settings it was started with."
            )
        try:
            average.load(folder / AVERAGE_FILE, steps)  # one update per optimizer step, as the stage counts them
        except ValueError as error:  # UnreadableFileError is one
            raise CheckpointError(str(error)) from error
    return progress_state


def check_trainer_checkpoint(folder: Path) -> None:
    """Before `Trainer.train(resume_from_checkpoint=folder)`: verifies the folder's record, loads every pickle the
    Trainer reads on resume with `weights_only=True` (numpy arrays allowed, nothing else), so that none holds
    anything but data when the Trainer reads it, and reads its safetensors and JSON files once.

    Raises:
        CheckpointError: a file differs from what was written, or pickles objects other than tensors and plain data
            (never executed).
    """
    verify_checkpoint(folder)
    pickles = [folder / name for name in TRAINER_RESUME_PICKLES if (folder / name).is_file()]
    pickles += sorted(folder.glob("rng_state_*.pth"))
    from transformers.trainer import safe_globals  # the allowlist the Trainer itself loads these files with

    try:
        for path in pickles:
            with safe_globals():
                load_torch_file(path, what="Trainer checkpoint file")
        for path in sorted(folder.glob("*.safetensors")):
            load_safetensors_file(path)
    except UnreadableFileError as error:
        raise CheckpointError(str(error)) from error
    for path in sorted(folder.glob("*.json")):
        try:
            json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise CheckpointError(f"{path} is not JSON: {error}.") from error
