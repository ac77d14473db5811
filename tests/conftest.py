"""Shared fixtures: everything a test needs is built here, nothing comes from the Hub."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random StarChat-format model directory (GPTBigCode, chat tokens, template)."""
    from tests.tiny_model import build_tiny_starchat

    return build_tiny_starchat(tmp_path_factory.mktemp("tiny-starchat"))
