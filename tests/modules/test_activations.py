"""`uruk_hf.modules.activations.softplus`: `F.softplus` in PyTorch, and the same function in exported graphs."""

import numpy as np
import onnx
import onnxruntime
import torch
from torch.nn import functional as F

from uruk_hf.modules.activations import softplus


class _Softplus(torch.nn.Module):
    def forward(self, hidden_states):
        return softplus(hidden_states)


def test_softplus_is_torch_softplus_in_eager_mode():
    values = torch.linspace(-60, 60, 241)
    assert torch.equal(softplus(values), F.softplus(values))


def test_the_exported_softplus_has_no_softplus_node_and_the_same_values(tmp_path):
    values = torch.linspace(-60, 60, 241).reshape(1, 1, 1, -1)  # far into both tails: no overflow, no NaN
    path = tmp_path / "softplus.onnx"
    torch.onnx.export(_Softplus(), (values,), path, opset_version=17, dynamo=False)
    assert "Softplus" not in {node.op_type for node in onnx.load(path).graph.node}
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (exported,) = session.run(None, {session.get_inputs()[0].name: values.numpy()})
    np.testing.assert_allclose(exported, F.softplus(values).numpy(), rtol=1e-6, atol=1e-6)
