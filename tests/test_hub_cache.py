"""Loading by repo id, offline, through a real Hugging Face cache laid out in a temporary HF_HOME."""

import json
import os
import subprocess
import sys
import textwrap

import torch

from uruk_hf import UrukGBufferProcessor
from uruk_hf.catalog import iter_models

from .hub_cache import lay_out_hub_cache

PUBLISHED_MODELS = [model for _, model in iter_models(published_only=True)]
RENDERERS = {model.key for family, model in iter_models(published_only=True) if family.dataset_kind == "gbuffer_clips"}

LOAD_SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    from transformers import AutoImageProcessor, AutoModel
    import uruk_hf
    from uruk_hf import UrukV2Ultra

    results = {}
    model = UrukV2Ultra.from_pretrained("org/uruk", subfolder="v2_ultra").eval()
    inputs = torch.load(sys.argv[1], weights_only=True)
    with torch.no_grad():
        results["v2_ultra frame sum"] = model(inputs).frame.sum().item()
    for subfolder, has_processor in json.loads(sys.argv[2]).items():
        auto = AutoModel.from_pretrained("org/uruk", subfolder=subfolder)
        results[subfolder] = [type(auto).__name__]
        if has_processor:  # the renderers' G-buffer packing
            processor = AutoImageProcessor.from_pretrained("org/uruk", subfolder=subfolder)
            results[subfolder] += [type(processor).__name__, processor.num_channels]
    print(json.dumps(results))
    """
)


def test_from_pretrained_by_repo_id_offline(tmp_path):
    folder = tmp_path / "repo"
    expected = {}
    torch.manual_seed(0)
    for published in PUBLISHED_MODELS:
        config = published.config("tiny")
        model = published.model_class(config).eval()
        model.save_pretrained(folder / published.subfolder)
        expected[published.subfolder] = [published.model_class.__name__]
        if published.key in RENDERERS:
            UrukGBufferProcessor.from_model_config(config).save_pretrained(folder / published.subfolder)
            expected[published.subfolder] += ["UrukGBufferProcessor", config.num_channels]
        if published.key == "v2_ultra":
            inputs = torch.rand(1, config.num_channels, 19, 23)
            torch.save(inputs, tmp_path / "inputs.pt")
            with torch.no_grad():
                expected["v2_ultra frame sum"] = model(inputs).frame.sum().item()
    lay_out_hub_cache(tmp_path / "hf_home", "org/uruk", folder)

    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    subfolders = {published.subfolder: published.key in RENDERERS for published in PUBLISHED_MODELS}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(tmp_path / "inputs.pt"), json.dumps(subfolders)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
