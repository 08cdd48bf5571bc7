"""The `locomotion_clips` dataset kind: the 22-joint skeleton, the procedural locomotion animator, the motion
metrics and baselines (motion matching among them), skeleton GIFs, and the generator."""
