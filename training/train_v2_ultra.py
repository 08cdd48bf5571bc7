"""Train V2-Ultra (32-channel layout: frame + per-pixel materials), the history input filled from the model's own
previous output through the recurrent clip unroll.

- Teacher (Production): one stage on the Accelerate loop, L1 + MS-SSIM on tone-mapped frames plus material
  cross-entropy; the best checkpoint weighs PSNR and material mIoU.
- Student (Distillation, `--teacher`): the seed's 2-stage curriculum through `UrukDistillationTrainer`. Stage 1
  (foundation): frame reconstruction + teacher matching; stage 2 (fine-tune): adds the material head (labels and the
  teacher's distribution) and MS-SSIM. Writes `distillation/stage1_best`, `stage2_best` and the seed's legacy
  `v2_ultra_best_stage1.pt`, `v2_ultra_best_stage2.pt`, `v2_ultra_global_best.pt` under OUT_DIR/legacy/v2_ultra.

    python training/train_v2_ultra.py --data DATA_DIR --output TEACHER_DIR [--preset quick]
    python training/train_v2_ultra.py --data DATA_DIR --output STUDENT_DIR --teacher TEACHER_DIR/model
    accelerate launch --multi_gpu --num_processes 2 training/train_v2_ultra.py --data DATA_DIR --output OUT_DIR

The final model (Hub format) goes to OUT_DIR/model. Rerun with --resume after an interruption.
"""

import argparse
from pathlib import Path

import torch
from accelerate import Accelerator

from uruk_hf.catalog import get_family
from uruk_hf.models.v2_ultra.recipe_v2_ultra import V2_ULTRA_CURRICULUM
from uruk_hf.training.arguments import add_stage_arguments, curriculum_from_arguments, stage_settings
from uruk_hf.training.distillation import run_distillation
from uruk_hf.training.losses import FRAME_AND_MATERIAL_LOSS
from uruk_hf.training.run import save_curriculum_legacy
from uruk_hf.training.stage import save_final_model, save_trained_model, train_stage

FAMILY = get_family("v2_ultra")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_arguments(parser)
    parser.add_argument("--teacher", default=None, help="a trained V2-Ultra teacher folder: distill the student")
    return parser.parse_args(argv)


def distill(args, model, task, train, validation, output: Path) -> dict:
    teacher = type(model).from_pretrained(args.teacher)
    stages = curriculum_from_arguments(args, V2_ULTRA_CURRICULUM)
    record = run_distillation(
        model, teacher, task, train, validation, stages, output / "distillation", resume=args.resume
    )
    save_trained_model(model, record, output / "model", task)
    legacy_files = FAMILY.model("v2_ultra").legacy_files  # global best, stage 1, stage 2
    save_curriculum_legacy(model, record, output / "legacy", legacy_files, {"stage1": 1, "stage2": 2})
    best = record["global_best"]
    print(
        f"V2-Ultra student distilled: best validation PSNR {best['psnr']:.2f} dB, material mIoU "
        f"{100 * best['material_miou']:.1f}% ({record['global_best_stage']}, step {best['step']})"
    )
    return record


def main(argv=None) -> dict:
    args = parse_args(argv)
    output = Path(args.output)
    torch.manual_seed(args.seed)
    entry = FAMILY.model("v2_ultra" if args.teacher else "v2_ultra_teacher")
    config = entry.config_class.from_preset(args.preset, role=entry.role)
    model = entry.model_class(config)
    task = FAMILY.make_task(config)
    train = task.dataset(args.data, "train", max_items=args.max_train_clips)
    validation = task.dataset(args.data, "validation")
    if args.teacher:
        return distill(args, model, task, train, validation, output)

    accelerator = Accelerator(cpu=not torch.cuda.is_available(), log_with="tensorboard", project_dir=str(output))
    accelerator.init_trackers("v2_ultra", config={k: v for k, v in vars(args).items() if v is not None})
    settings = stage_settings(args, "production", material_weight=FRAME_AND_MATERIAL_LOSS.material)
    record = train_stage(
        accelerator, model, task, train, validation, settings, output / "production", resume=args.resume
    )
    save_final_model(accelerator, model, record, output / "model", task)
    best = record["best"]
    accelerator.print(
        f"V2-Ultra {args.preset}/teacher: best validation PSNR {best['psnr']:.2f} dB, material mIoU "
        f"{100 * best['material_miou']:.1f}% at step {record['best_step']} ({record['stop_reason']} after "
        f"{record['steps']} steps, {record['seconds']:.0f} s)"
    )
    accelerator.end_training()
    return record


if __name__ == "__main__":
    main()
