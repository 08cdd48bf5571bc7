"""Train V2-Optimized: warm-started from earlier weights (the seed's "initializes from V1 weights": here the
V2-Ultra student's stage-1 checkpoint, or any compatible folder, .safetensors or legacy .pt), then its curriculum
on the Accelerate loop: rendering (L1 + MS-SSIM), then material (adds the material cross-entropy), each stage from
the previous stage's best weights, with a quality gate after each (rendering must beat `direct` by
`--gate-margin` dB on the validation frames; material may not cost more than 1 dB of rendering's PSNR).

    python training/train_v2_optimized.py --data DATA_DIR --output OUT_DIR --init-from V2_RUN/distillation/stage1_best
    accelerate launch --multi_gpu --num_processes 2 training/train_v2_optimized.py --data DATA_DIR ...

Writes OUT_DIR/{rendering,material}/{best,checkpoint,record.json}, the final model (Hub format) in OUT_DIR/model.
Rerun with --resume after an interruption: finished stages are read back, the interrupted one continues.
"""

import argparse
from pathlib import Path

import torch
from accelerate import Accelerator

from uruk_hf import UrukV2Optimized, UrukV2OptimizedConfig
from uruk_hf.catalog import get_family
from uruk_hf.models.v2_optimized.recipe_v2_optimized import V2_OPTIMIZED_CURRICULUM, V2_OPTIMIZED_LATER_STAGE_LOSS
from uruk_hf.training.arguments import add_stage_arguments, stage_settings
from uruk_hf.training.curriculum import curriculum_stages
from uruk_hf.training.gates import QualityGate
from uruk_hf.training.lifecycle import train_curriculum
from uruk_hf.training.stage import save_trained_model
from uruk_hf.training.warm_start import load_initial_weights


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_arguments(parser)
    parser.add_argument("--init-from", required=True, help="warm start: a Hub-format folder, .safetensors or .pt")
    parser.add_argument("--gate-margin", type=float, default=2.0, help="dB over `direct` the rendering stage needs")
    return parser.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    output = Path(args.output)
    torch.manual_seed(args.seed)
    config = UrukV2OptimizedConfig.from_preset(args.preset)
    model = UrukV2Optimized(config)
    warm_start = load_initial_weights(model, args.init_from)
    task = get_family("v2_optimized").make_task(config)
    train = task.dataset(args.data, "train", max_items=args.max_train_clips)
    validation = task.dataset(args.data, "validation")

    def make_accelerator(stage: str) -> Accelerator:
        accelerator = Accelerator(cpu=not torch.cuda.is_available(), log_with="tensorboard", project_dir=str(output))
        accelerator.init_trackers(f"v2_optimized_{stage}", config={k: v for k, v in vars(args).items() if v})
        return accelerator

    # The material stage may lose at most 1 dB of the rendering stage's PSNR (less strict under a --gate-margin that
    # accepts anything, as the recipe's gate is under the tiny preset).
    later_gate = QualityGate.after_previous_stage(V2_OPTIMIZED_LATER_STAGE_LOSS, args.gate_margin)
    gates = [QualityGate(margin=args.gate_margin), later_gate]
    stages = curriculum_stages(V2_OPTIMIZED_CURRICULUM, stage_settings(args, "template"), args.time_budget, gates)
    baselines = task.gate_baselines(validation)
    records = train_curriculum(
        make_accelerator, model, task, train, validation, stages, output, baselines, resume=args.resume
    )
    save_trained_model(model, {"warm_start": warm_start, "stages": records}, output / "model", task)
    for record in records:
        best = record["best"]
        print(
            f"V2-Optimized {record['stage']}: best validation PSNR {best['psnr']:.2f} dB, material mIoU "
            f"{100 * best['material_miou']:.1f}% at step {record['best_step']} ({record['stop_reason']}); gate passed"
        )
    return records


if __name__ == "__main__":
    main()
