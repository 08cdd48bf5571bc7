"""The recurrent unroll over a clip: `history` is always the model's own previous output, never ground truth.

Frame 0 sees zeros (and `history_valid` 0, as stored). Frame k sees the model's frame k-1 prediction, detached,
backward-warped by frame k's motion vectors and zeroed where `history_valid` is 0, then normalized like any
`history` buffer, and frame k's stored `history_valid` beside it (the collator packs neither: both are optional
buffers a first frame lacks). Training and evaluation run clips through this same function in order, so the model
sees what an engine passes it: its own reprojected output and where that reprojection holds.
"""

from ..models.gbuffer_renderer.modeling_gbuffer_renderer import model_fed_inputs
from ..models.gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
from ..reprojection import warp_previous_frame

__all__ = ["unroll_clip"]


def unroll_clip(model, batch: dict, processor: UrukGBufferProcessor, config=None) -> list:
    """Runs `model` over the `K` frames of a collated batch in order and returns its `K` outputs (no loss: the
    caller scores them). The history channels of frame k are filled from the model's frame k-1 output.
    `config` defaults to `model.config` (pass it when `model` is wrapped, e.g. by DDP). The model's scan of its
    input for NaN/Inf is skipped (`model_fed_inputs`): the batch was packed by the processor, which checks every
    buffer, and a diverged previous frame is the loss's and the Smoke checks' to report."""
    config = config or model.config
    names = {entry["name"] for entry in config.input_buffers}
    history = config.buffer_slice("history") if "history" in names else None
    history_valid = config.buffer_slice("history_valid") if "history_valid" in names else None
    outputs, previous = [], None
    for k in range(batch["pixel_values"].shape[1]):
        pixel_values = batch["pixel_values"][:, k]
        if history is not None and previous is not None:
            warped = warp_previous_frame(previous.detach(), batch["motion"][:, k]) * batch["history_valid"][:, k]
            pixel_values = pixel_values.clone()
            pixel_values[:, history] = processor.normalize_buffer("history", warped)
            if history_valid is not None:
                pixel_values[:, history_valid] = processor.normalize_buffer(
                    "history_valid", batch["history_valid"][:, k]
                )
        with model_fed_inputs():
            output = model(pixel_values)
        outputs.append(output)
        previous = output.frame
    return outputs
