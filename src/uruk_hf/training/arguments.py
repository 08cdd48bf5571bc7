"""Command-line arguments shared by the training scripts, so each script only adds what is its own."""

import argparse

from .curriculum import curriculum_stages
from .losses import LossWeights
from .progress import StageSettings

__all__ = ["add_stage_arguments", "curriculum_from_arguments", "stage_settings"]


def add_stage_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds data/output, model size and stage-loop arguments to `parser` and returns it."""
    parser.add_argument("--data", required=True, help="a folder made by `uruk data generate`")
    parser.add_argument("--output", required=True, help="run folder")
    parser.add_argument("--preset", default="quick", choices=["tiny", "quick", "full"], help="model size")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--warmup-steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=4, help="clips per step and process")
    parser.add_argument("--max-steps", type=int, default=2000, help="per stage")
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--patience", type=int, default=3, help="evaluations without improvement: a plateau")
    parser.add_argument("--max-lr-drops", type=int, default=2, help="plateaus that lower the LR before stopping")
    parser.add_argument("--time-budget", type=float, default=None, help="seconds (a curriculum shares it evenly)")
    parser.add_argument("--ms-ssim-weight", type=float, default=0.2)
    parser.add_argument("--max-train-clips", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    return parser


def stage_settings(args: argparse.Namespace, name: str, material_weight: float = 0.0) -> StageSettings:
    """The `StageSettings` of stage `name` from parsed `add_stage_arguments` arguments (the renderers' loss terms:
    L1, `--ms-ssim-weight` and `material_weight`)."""
    return StageSettings(
        name=name,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        eval_every=args.eval_every,
        patience=args.patience,
        max_lr_drops=args.max_lr_drops,
        time_budget_s=args.time_budget,
        weights=LossWeights(l1=1.0, ms_ssim=args.ms_ssim_weight, material=material_weight),
        seed=args.seed,
    )


def curriculum_from_arguments(args: argparse.Namespace, curriculum: list) -> list:
    """The `CurriculumStage`s of `curriculum` (a family recipe's, e.g. `uruk_hf.models.v2_ultra.recipe_v2_ultra`)
    with the parsed stage arguments (`--max-steps` per stage, `--time-budget` shared by the stages)."""
    return curriculum_stages(curriculum, stage_settings(args, "template"), args.time_budget)
