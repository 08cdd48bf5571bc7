"""Test session setup: no network, ever (set before transformers or huggingface_hub is imported)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A tiny-preset dataset folder, generated once per test session, and its generation summary."""
    from uruk_hf.data.rendering.generator import generate_gbuffer_dataset

    folder = tmp_path_factory.mktemp("tiny_dataset")
    return folder, generate_gbuffer_dataset(folder, "tiny", seed=0, progress=False)
