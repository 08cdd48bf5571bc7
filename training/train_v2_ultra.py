"""Train a V2-Ultra renderer (32-channel layout: frame + per-pixel materials) in one stage: reconstruction loss
(L1 + MS-SSIM on tone-mapped frames) plus material cross-entropy, the history input filled from the model's own
previous output through the recurrent clip unroll.

This is the Production stage of the V2-Ultra teacher (`--role teacher`, the default). The student's 2-stage
distillation curriculum builds on it (issue #4, in progress).

    python training/train_v2_ultra.py --data DATA_DIR --output OUT_DIR [--preset quick] [--role teacher]
    accelerate launch --multi_gpu --num_processes 2 training/train_v2_ultra.py --data DATA_DIR --output OUT_DIR

Writes OUT_DIR/production/{best,checkpoint,record.json}, the model in OUT_DIR/model and TensorBoard logs in
OUT_DIR/v2_ultra. Rerun with --resume after an interruption.
"""

import argparse
from pathlib import Path

import torch
from accelerate import Accelerator

from uruk_hf import UrukGBufferProcessor, UrukV2Ultra, UrukV2UltraConfig
from uruk_hf.training.arguments import add_stage_arguments, stage_settings
from uruk_hf.training.data import UrukClipDataset
from uruk_hf.training.stage import save_final_model, train_stage


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_arguments(parser)
    parser.add_argument("--role", default="teacher", choices=["teacher", "student"])
    parser.add_argument("--material-weight", type=float, default=0.05, help="weight of the material cross-entropy")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    output = Path(args.output)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), log_with="tensorboard", project_dir=str(output))
    accelerator.init_trackers("v2_ultra", config={k: v for k, v in vars(args).items() if v is not None})

    torch.manual_seed(args.seed)
    config = UrukV2UltraConfig.from_preset(args.preset, role=args.role)
    model = UrukV2Ultra(config)
    processor = UrukGBufferProcessor.from_model_config(config)
    train = UrukClipDataset(args.data, "train", config.input_buffers, max_clips=args.max_train_clips)
    validation = UrukClipDataset(args.data, "validation", config.input_buffers)

    settings = stage_settings(args, "production", material_weight=args.material_weight)
    record = train_stage(
        accelerator, model, processor, train, validation, settings, output / "production", resume=args.resume
    )
    save_final_model(accelerator, model, processor, record, output / "model")
    best = record["best"]
    accelerator.print(
        f"V2-Ultra {args.preset}/{args.role}: best validation PSNR {best['psnr']:.2f} dB, material mIoU "
        f"{100 * best['material_miou']:.1f}% at step {record['best_step']} ({record['stop_reason']} after "
        f"{record['steps']} steps, {record['seconds']:.0f} s)"
    )
    accelerator.end_training()
    return record


if __name__ == "__main__":
    main()
