"""Shared fixtures: the real VSCBench spreadsheets with placeholder images, and tiny models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vscbench.testing.placeholder import make_placeholder_release, shared_metadata_dir


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_metadata_dir()
    if not (path / "vscbench_image_centric.xlsx").is_file():
        pytest.fail(f"the real VSCBench metadata is missing at {path}; set VSCBENCH_SHARED")
    return path


@pytest.fixture(scope="session")
def release_template(tmp_path_factory, shared_dir) -> Path:
    """A complete placeholder release, built once; copy it (``release_dir``) before changing it."""
    return make_placeholder_release(tmp_path_factory.mktemp("release") / "vscbench", shared_dir)


@pytest.fixture
def release_dir(tmp_path, release_template) -> Path:
    """A private, writable copy of the complete placeholder release."""
    dest = tmp_path / "vscbench"
    shutil.copytree(release_template, dest)
    return dest


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory) -> Path:
    """A tiny random-weight LLaVA saved with its processor (4 text layers, 2 vision blocks)."""
    pytest.importorskip("torch", reason="the 'local' extra (torch, transformers) is not installed")
    from vscbench.testing.tiny_vlm import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))
