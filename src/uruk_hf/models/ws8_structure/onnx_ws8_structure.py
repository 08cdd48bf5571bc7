"""The Optimum ONNX interface of the WS8 structure generator: Optimum's own GPT-2 decoder export with the KV cache
(`text-generation-with-past`), one graph that takes the new tokens and the cache so far (empty on the first step)
and returns the logits and the grown cache, under Optimum's names (`past_key_values.<layer>.key`,
`present.<layer>.value`, ...). That is the layout `optimum.onnxruntime.ORTModelForCausalLM` runs `generate()` on,
and `UrukORTWS8StructureGenerator` is that class with the generator's field ranges."""

import torch
from optimum.exporters.onnx.model_configs import GPT2OnnxConfig

__all__ = ["UrukWS8StructureGeneratorOnnxConfig"]


class UrukWS8StructureGeneratorOnnxConfig(GPT2OnnxConfig):
    """The structure generator's ONNX interface: `input_ids` `(batch, new tokens)`, `attention_mask` `(batch, past +
    new tokens)`, `position_ids` and `past_key_values.<layer>.key` / `.value` `(batch, heads, past tokens,
    head_dim)` in; `logits` and `present.<layer>.key` / `.value` out. The task is always Optimum's
    `text-generation` with the cache in and out, whatever `task` the caller names (`export_onnx` names none).

    Raises:
        ValueError: the config has `room_embeddings`, whose cursor rooms are read from the whole sequence and are
            not an input of this graph.
    """

    VALIDATION_SHAPES = (
        {"batch_size": 2, "sequence_length": 2},
        {"batch_size": 3, "sequence_length": 24},
    )
    """Where `export_onnx` validates (Optimum's dummy inputs: as many new tokens as cached ones, some rows
    padded): a short step, and 24 tokens on a cache of 24 (a partial structure handed over mid-way)."""
    ATOL_FOR_VALIDATION = 1e-4
    DEFAULT_ONNX_OPSET = 17
    QUANTIZED_OPERATORS = ("MatMul", "Gemm")
    FLOAT_MODULES = ()
    INT8_MODE = "dynamic"
    """ONNX Runtime's dynamic int8 for decoders (weights int8 offline, activations scaled per call), as Optimum
    recommends for transformers: a static calibration would have to fix the cache's length."""
    SLIM = False

    def __init__(self, config, task: str = "text-generation", **kwargs):
        if getattr(config, "room_embeddings", False):
            raise ValueError(
                "room_embeddings=True: the cursor rooms are computed from the whole sequence and are not an input "
                "of the exported decoder; export a model trained without them."
            )
        kwargs.update(use_past=True, use_past_in_inputs=True)
        super().__init__(config, task="text-generation", **kwargs)

    def parity(self, model, onnx_path, inputs: dict) -> tuple[str, float]:
        """The max absolute difference of the logits between the PyTorch model (the same cache as a
        `DynamicCache`) and ONNX Runtime on `inputs`."""
        import onnxruntime
        from transformers import DynamicCache

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        feed = {name: inputs[name].numpy() for name in ("input_ids", "attention_mask", "position_ids")}
        for layer, (key, value) in enumerate(inputs["past_key_values"]):
            feed[f"past_key_values.{layer}.key"], feed[f"past_key_values.{layer}.value"] = key.numpy(), value.numpy()
        (logits,) = session.run(["logits"], feed)
        with torch.inference_mode():
            reference = model(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                position_ids=inputs["position_ids"],
                past_key_values=DynamicCache.from_legacy_cache(tuple(map(tuple, inputs["past_key_values"]))),
            ).logits
        return "logits_max_difference", float((torch.from_numpy(logits) - reference).abs().max())
