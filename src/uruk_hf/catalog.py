"""The family registry: every model family the library trains, evaluates and publishes, in one place.

`uruk models`, `uruk data generate`, `uruk train <family>`, `uruk pipeline`, `uruk publish build`, the manifest
and the cards all iterate this registry; none of them names a family. A family is a folder under
`uruk_hf/models/<family>/` whose `recipe_<family>.py` defines a `Family` (its published models, its dataset kind,
its task, its lifecycle and what its card shows) and one line in `FAMILY_MODULES` below. Code outside the package
(a plugin, a test) adds a family at run time with `register_family`.

This module imports neither torch nor transformers: a family's module is imported when the family is first asked
for, so `uruk --help` stays fast.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BUDGET_TOLERANCE",
    "DATASET_KINDS",
    "FAMILY_MODULES",
    "SEED_FILES",
    "Family",
    "ModelEntry",
    "PipelineRun",
    "TrainOption",
    "count_parameters",
    "dataset_kind",
    "family_for_model_type",
    "family_names",
    "get_family",
    "iter_families",
    "iter_models",
    "model_entry",
    "model_entry_for_type",
    "register_family",
    "resolve",
    "unregister_family",
]

BUDGET_TOLERANCE = 0.05
"""Full-size models must land within ±5% of their DESIGN §1 parameter budget."""

FAMILY_MODULES = {
    "v2_ultra": "uruk_hf.models.v2_ultra.recipe_v2_ultra",
    "v2_ultra_rr": "uruk_hf.models.v2_ultra.recipe_v2_ultra_ray_reconstruction",
    "v2_optimized": "uruk_hf.models.v2_optimized.recipe_v2_optimized",
    "ws5": "uruk_hf.models.ws5_cinematic.recipe_ws5_cinematic",
    "ws4": "uruk_hf.models.ws4_remapper.recipe_ws4_remapper",
    "ws6": "uruk_hf.models.ws6_runtime.recipe_ws6_runtime",
    "npc_director": "uruk_hf.models.npc_director.recipe_npc_director",
    "animation_director": "uruk_hf.models.animation_director.recipe_animation_director",
    "ws8": "uruk_hf.models.ws8_structure.recipe_ws8_structure",
    "ws3": "uruk_hf.models.ws3_world_authoring.recipe_ws3_world_authoring",
}
"""Family name -> the module whose `FAMILY` attribute is its `Family`, in pipeline order."""

DATASET_KINDS = {
    "gbuffer_clips": "uruk_hf.data.rendering.generator:GBUFFER_CLIPS",
    "npc_episodes": "uruk_hf.data.behaviour.generator:NPC_EPISODES",
    "locomotion_clips": "uruk_hf.data.gait.generator:LOCOMOTION_CLIPS",
    "relighting_pairs": "uruk_hf.data.rendering.relighting:RELIGHTING_PAIRS",
    "block_structures": "uruk_hf.data.grammar.generator:BLOCK_STRUCTURES",
    "world_maps": "uruk_hf.data.terrain.generator:WORLD_MAPS",
}
"""Dataset kind -> its generator (`uruk_hf.data.folder.DatasetGenerator`), as `module:attribute`."""

SEED_FILES = {
    "v2_ultra/v2_ultra_global_best.pt": "v2_ultra",
    "v2_ultra/v2_ultra_best_stage1.pt": "v2_ultra",
    "v2_ultra/v2_ultra_best_stage2.pt": "v2_ultra",
    "onnx/uruk_v2_ultra_best.onnx": "v2_ultra",
    "v2_optimized/v2opt_global_best.pt": "v2_optimized",
    "workstreams/ws2_learned_world/ws2_best.pt": "ws2",
    "workstreams/ws3_world_authoring/ws3_best.pt": "ws3",
    "workstreams/ws4_world_remapper/ws4_best.pt": "ws4",
    "workstreams/ws4_world_remapper_v2/ws4_v2_best.pt": "ws4",
    "workstreams/ws5_cinematic_renderer/ws5_frontier_best.pt": "ws5",
    "workstreams/ws6_runtime_optimization/ws6_best.pt": "ws6",
    "workstreams/ws6_runtime_optimization_v2/ws6_v2_best.pt": "ws6",
    "workstreams/ws7_scene_to_world_v2/ws7_v2_best.pt": "ws7",
    "distillation/ws2_student_best.pt": "ws2",
    "distillation/ws3_student_best.pt": "ws3",
    "distillation/ws4_student_best.pt": "ws4",
    "distillation/ws5_student_best.pt": "ws5",
    "distillation/ws6_student_best.pt": "ws6",
    "distillation/ws2_student_final.pt": "ws2",
    "distillation/ws3_student_final.pt": "ws3",
    "distillation/ws4_student_final.pt": "ws4",
    "distillation/ws5_student_final.pt": "ws5",
    "distillation/ws6_student_final.pt": "ws6",
    "npc_director_v2/best.pt": "npc_director",
    "animation_director/best.pt": "animation_director",
    "ws8_structure_generator/best_model.pt": "ws8",
    "onnx/npc_director.onnx": "npc_director",
}
"""Every file of the seed card's tables (and the `*_student_final.pt` its note mentions), by the family that makes
it; the manifest reports the ones no registered family has made yet as missing, never fakes them."""


def resolve(reference: Any) -> Any:
    """`reference` itself, or the object a `"module:attribute"` string names (imported on first use)."""
    if not isinstance(reference, str):
        return reference
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class ModelEntry:
    """One model a family trains: evaluated by the pipeline, and published when it has a Hub subfolder.

    Attributes:
        key (`str`): its name in run records, `results.json` and the cards (e.g. `"v2_ultra"`).
        model_class (`type`): the `PreTrainedModel` class.
        config_class (`type`): its config class (`from_preset(preset, role=...)` builds each size).
        role (`str`, *optional*): the config role (`"teacher"` or `"student"`), for families that have both.
        run_folder (`str`): where the trained model lies (Hub format) inside a pipeline folder.
        subfolder (`str`, *optional*): its Hub subfolder (DESIGN §1); `None` for a control that is evaluated
            beside the published models but not published (e.g. a student trained without its teacher).
        budget (`int`, *optional*): the full-size parameter count of DESIGN §1.
        description (`str`): what the model does, for its card.
        legacy_files (`tuple[str, ...]`): its seed `.pt` files relative to the repo root; the first is the one its
            card loads.
        onnx_files (`tuple[str, ...]`): seed-style names of its ONNX file under the repo root (`.int8.onnx` beside).
        curve (`tuple[str, ...]`): the stage records (folders relative to the pipeline folder) behind its training
            curve, in order.
        seed_claims (`tuple[tuple[str, str | None, str], ...]`): the seed card's claims about this model, each
            `(claim, metric key of ours shown beside it or None, note)`; the root card quotes them only beside our
            measured figure.
        config_overrides (`tuple[tuple[str, Any], ...]`): config fields set on top of the preset for this model
            (e.g. another input layout), as `(field, value)` pairs.
        compared_with (`tuple[str, ...]`): keys of other models of the family whose test metrics its card shows
            beside its own (a rerun's first run, a student's teacher).
    """

    key: str
    model_class: type
    config_class: type
    run_folder: str
    role: str | None = None
    subfolder: str | None = None
    budget: int | None = None
    description: str = ""
    legacy_files: tuple[str, ...] = ()
    onnx_files: tuple[str, ...] = ()
    curve: tuple[str, ...] = ()
    seed_claims: tuple[tuple[str, str | None, str], ...] = ()
    config_overrides: tuple[tuple[str, Any], ...] = ()
    compared_with: tuple[str, ...] = ()

    def config(self, preset: str = "full", **fields):
        """The config of this model at `preset`, with `fields` set on top of it (and of `config_overrides`)."""
        overrides = {**dict(self.config_overrides), **fields}
        if self.role is None:
            return self.config_class.from_preset(preset, **overrides)
        return self.config_class.from_preset(preset, role=self.role, **overrides)

    @property
    def published(self) -> bool:
        """Whether the model has a Hub subfolder."""
        return self.subfolder is not None


@dataclass(frozen=True)
class PipelineRun:
    """A run the pipeline adds after a family's lifecycle (e.g. the from-scratch control of a distilled student).

    Attributes:
        name (`str`): its folder under the pipeline folder.
        train (`Callable | str`): `(data, output, preset, resume, family_record) -> record`, `family_record` being
            the family's lifecycle record.
    """

    name: str
    train: Callable | str


@dataclass(frozen=True)
class TrainOption:
    """A family-specific option of `uruk train <family>` (an `argparse` argument passed on as a keyword).

    Attributes:
        flag (`str`): the option, e.g. `"--init-from"`; its keyword is the flag without dashes, `-` as `_`.
        help (`str`): the help text.
        is_switch (`bool`): a flag without a value (`store_true`).
    """

    flag: str
    help: str
    is_switch: bool = False

    @property
    def keyword(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Family:
    """A model family: what `uruk train`, the pipeline and the publisher need to know about it.

    Attributes:
        name (`str`): `uruk train <name>`, its run folder in a pipeline folder.
        title (`str`): a human name for tables and cards.
        models (`tuple[ModelEntry, ...]`): the models its lifecycle writes, in table order.
        dataset_kind (`str`): the key of its data generator in `DATASET_KINDS`.
        task (`Callable | str`): `config -> Task` (`uruk_hf.training.tasks.Task`): batches, loss, evaluation,
            baselines, selection and teacher terms of its models.
        train (`Callable | str`): its lifecycle, `(data, output, preset, resume, seed=0, **options) -> record`
            (the record holds the `seed`).
        options (`tuple[TrainOption, ...]`): its own `uruk train` options.
        requires (`tuple[str, ...]`): families the pipeline must run first (their outputs feed this one).
        pipeline_options (`Callable | str`, *optional*): `(pipeline_folder) -> options` for `train` in the
            pipeline (e.g. a warm start from an earlier family's checkpoint).
        controls (`tuple[PipelineRun, ...]`): runs the pipeline adds after the lifecycle.
        onnx_config (`Callable | str`, *optional*): its Optimum `OnnxConfig` class; `None`: not exported.
        limitations (`dict[str, list[str]]`): per model key, limitations its card states.
    """

    name: str
    title: str
    models: tuple[ModelEntry, ...]
    dataset_kind: str
    task: Callable | str
    train: Callable | str
    options: tuple[TrainOption, ...] = ()
    requires: tuple[str, ...] = ()
    pipeline_options: Callable | str | None = None
    controls: tuple[PipelineRun, ...] = ()
    onnx_config: Callable | str | None = None
    limitations: dict[str, list[str]] = field(default_factory=dict)

    def model(self, key: str) -> ModelEntry:
        """The family's model `key`."""
        for entry in self.models:
            if entry.key == key:
                return entry
        raise ValueError(f"Family {self.name!r} has no model {key!r}; its models: {[m.key for m in self.models]}.")

    def make_task(self, config):
        """The family's task for a model of `config`."""
        return resolve(self.task)(config)

    def run_lifecycle(
        self, data, output, preset: str = "quick", resume: bool = False, seed: int = 0, **options
    ) -> dict:
        """Runs the family's lifecycle (see `uruk_hf.training.run.train_family`)."""
        return resolve(self.train)(Path(data), Path(output), preset, resume, seed=seed, **options)


_REGISTERED: dict[str, Family] = {}


def register_family(family: Family) -> None:
    """Adds `family` to the registry (after the built-in ones, in pipeline order) and its classes to transformers'
    auto classes; `uruk train`, the pipeline and the publisher then treat it like any other. Replaces a family
    registered earlier under the same name."""
    from .auto_registration import register_model_entries

    register_model_entries(family.models)
    _REGISTERED[family.name] = family


def unregister_family(name: str) -> None:
    """Removes a family added with `register_family` (tests clean up with it)."""
    _REGISTERED.pop(name, None)


def family_names() -> list[str]:
    """Every registered family, in pipeline order (no family module is imported)."""
    return [*FAMILY_MODULES, *(name for name in _REGISTERED if name not in FAMILY_MODULES)]


def get_family(name: str) -> Family:
    """The registered family `name`.

    Raises:
        ValueError: no family is registered under `name` (the message lists the registered ones).
    """
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in FAMILY_MODULES:
        raise ValueError(f"Unknown family {name!r}; registered families: {', '.join(family_names())}.")
    family = importlib.import_module(FAMILY_MODULES[name]).FAMILY
    _REGISTERED[name] = family
    return family


def iter_families(names: list[str] | None = None) -> list[Family]:
    """The families `names` (default: all registered), in pipeline order."""
    names = family_names() if names is None else names
    return [get_family(name) for name in names]


def iter_models(published_only: bool = False) -> list[tuple[Family, ModelEntry]]:
    """`(family, model)` for every model of every registered family, in table order."""
    return [
        (family, model)
        for family in iter_families()
        for model in family.models
        if model.published or not published_only
    ]


def model_entry(key: str) -> tuple[Family, ModelEntry]:
    """The family and entry of the model `key`."""
    for family, model in iter_models():
        if model.key == key:
            return family, model
    raise ValueError(f"No registered family has a model {key!r}.")


def model_entry_for_type(model_type: str) -> tuple[Family, ModelEntry]:
    """The family and the first entry of the models whose config has `model_type` (a saved folder's
    `config.json` names it)."""
    for family, model in iter_models():
        if model.config_class.model_type == model_type:
            return family, model
    raise ValueError(f"No registered family has models of type {model_type!r}.")


def family_for_model_type(model_type: str) -> Family:
    """The registered family whose models have the config `model_type`."""
    return model_entry_for_type(model_type)[0]


def dataset_kind(kind: str):
    """The data generator of dataset kind `kind`."""
    if kind not in DATASET_KINDS:
        raise ValueError(f"Unknown dataset kind {kind!r}; known kinds: {', '.join(DATASET_KINDS)}.")
    return resolve(DATASET_KINDS[kind])


def count_parameters(model_class: type, config) -> int:
    """Parameters of `model_class(config)`, built on the meta device (no memory, no init time)."""
    import torch

    with torch.device("meta"):
        model = model_class(config)
    return sum(parameter.numel() for parameter in model.parameters())
