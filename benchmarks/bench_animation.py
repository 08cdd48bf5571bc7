"""Animation Director per character per frame: ONNX Runtime fp32 and int8 at 1 and 1024 characters per call,
PyTorch eager, against the procedural animator it imitates and a motion-matching search.

    python benchmarks/bench_animation.py --model PIPELINE_DIR/hub/animation_director [--data LOCOMOTION_DIR]

Median over `--repeats` timed calls after one warm-up, on this machine's threads; random input vectors (latency
does not depend on them). The animator's figure is one clip's frames over its time; motion matching's is one
search over the training frames of `--data` (an engine searches every few frames, not every frame).
"""

import argparse
import contextlib

import numpy as np
import torch
from bench_inference import median_ms

from uruk_hf import UrukAnimationDirector, UrukORTAnimationDirector
from uruk_hf.data.gait.animator import ClipSettings, animate_clip
from uruk_hf.tables import format_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="an exported Animation Director folder")
    parser.add_argument("--data", default=None, help="a locomotion_clips folder (for the motion-matching row)")
    parser.add_argument("--characters", nargs="+", type=int, default=[1, 1024])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    model = UrukAnimationDirector.from_pretrained(args.model).eval()
    runtimes = {"ONNX Runtime fp32": UrukORTAnimationDirector.from_pretrained(args.model)}
    with contextlib.suppress(FileNotFoundError):
        runtimes["ONNX Runtime int8"] = UrukORTAnimationDirector.from_pretrained(
            args.model, file_name="model.int8.onnx"
        )
    rows = []
    for characters in args.characters:
        features = np.random.default_rng(0).random((characters, model.config.input_size), dtype=np.float32)
        for name, runtime in runtimes.items():
            seconds = median_ms(args.repeats, runtime, features) / 1e3
            rows.append([name, str(characters), f"{seconds * 1e6 / characters:.2f}"])
        with torch.inference_mode():
            seconds = median_ms(args.repeats, model, torch.from_numpy(features)) / 1e3
        rows.append(["PyTorch eager fp32", str(characters), f"{seconds * 1e6 / characters:.2f}"])
    frames = 600
    seconds = median_ms(3, animate_clip, 0, ClipSettings(frames=frames)) / 1e3
    rows.append(["procedural animator (Python)", "1", f"{seconds * 1e6 / frames:.2f}"])
    if args.data:
        from uruk_hf.data.folder import load_split
        from uruk_hf.data.gait.motion import MotionMatching

        keys = ["rotations", "root_velocity", "desired", "phase", "gait"]
        data = load_split(args.data, "train", keys)
        matching = MotionMatching([{key: data[key][index] for key in keys} for index in range(len(data["gait"]))])
        query = np.zeros(matching.tree.m)
        seconds = median_ms(args.repeats, matching.tree.query, query) / 1e3
        rows.append([f"motion matching search ({len(matching.poses)} frames)", "1", f"{seconds * 1e6:.2f}"])
    params = sum(parameter.numel() for parameter in model.parameters())
    print(f"Animation Director {params / 1e6:.2f}M; {torch.get_num_threads()} threads")
    print(format_table(["runtime", "characters per call", "us per character per frame"], rows))


if __name__ == "__main__":
    main()
