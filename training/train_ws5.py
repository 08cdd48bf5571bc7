"""Train the WS5 cinematic renderer on the 19-channel layout: one reconstruction stage (L1 + MS-SSIM on tone-mapped
frames) on the Accelerate loop, or, with `--teacher`, the distillation of its student through
`UrukDistillationTrainer` (frame loss to ground truth and to the teacher's frame).

    python training/train_ws5.py --data DATA_DIR --output OUT_DIR [--preset quick] [--role teacher]
    python training/train_ws5.py --data DATA_DIR --output STUDENT_DIR --teacher OUT_DIR/model
    accelerate launch training/train_ws5.py --data DATA_DIR --output OUT_DIR
    accelerate launch --multi_gpu --num_processes 2 training/train_ws5.py ...   # two CPU processes (gloo)

Writes OUT_DIR/reconstruction/{best,checkpoint,record.json} (or OUT_DIR/distillation/ with the Trainer's
checkpoints), the final model (Hub format, with its preprocessor_config.json and training_record.json) in
OUT_DIR/model, and TensorBoard logs. Rerun with --resume after an interruption.
"""

import argparse
from pathlib import Path

import torch
from accelerate import Accelerator

from uruk_hf import UrukWS5CinematicConfig, UrukWS5CinematicRenderer
from uruk_hf.catalog import get_family
from uruk_hf.models.ws5_cinematic.recipe_ws5_cinematic import WS5_CURRICULUM
from uruk_hf.training.arguments import add_stage_arguments, curriculum_from_arguments, stage_settings
from uruk_hf.training.distillation import run_distillation
from uruk_hf.training.stage import save_final_model, save_trained_model, train_stage


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_arguments(parser)
    parser.add_argument("--role", default="teacher", choices=["teacher", "student"])
    parser.add_argument("--teacher", default=None, help="a trained WS5 model folder: distill the student from it")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    output = Path(args.output)
    torch.manual_seed(args.seed)
    config = UrukWS5CinematicConfig.from_preset(args.preset, role="student" if args.teacher else args.role)
    model = UrukWS5CinematicRenderer(config)
    task = get_family("ws5").make_task(config)
    train = task.dataset(args.data, "train", max_items=args.max_train_clips)
    validation = task.dataset(args.data, "validation")

    if args.teacher:
        teacher = UrukWS5CinematicRenderer.from_pretrained(args.teacher)
        stages = curriculum_from_arguments(args, WS5_CURRICULUM)
        record = run_distillation(
            model, teacher, task, train, validation, stages, output / "distillation", resume=args.resume
        )
        save_trained_model(model, record, output / "model", task)
        best = record["global_best"]
        print(f"WS5 student distilled: best validation PSNR {best['psnr']:.2f} dB at step {best['step']}")
        return record

    accelerator = Accelerator(cpu=not torch.cuda.is_available(), log_with="tensorboard", project_dir=str(output))
    accelerator.init_trackers("ws5", config={k: v for k, v in vars(args).items() if v is not None})
    record = train_stage(
        accelerator,
        model,
        task,
        train,
        validation,
        stage_settings(args, "reconstruction"),
        output / "reconstruction",
        resume=args.resume,
    )
    save_final_model(accelerator, model, record, output / "model", task)
    accelerator.print(
        f"WS5 {args.preset}/{args.role}: best validation PSNR {record['best']['psnr']:.2f} dB at step "
        f"{record['best_step']} ({record['stop_reason']} after {record['steps']} steps, {record['seconds']:.0f} s)"
    )
    accelerator.end_training()
    return record


if __name__ == "__main__":
    main()
