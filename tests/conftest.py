import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_SAMPLES = REPO.parent / "shared" / "data" / "longrm-official-samples"


@pytest.fixture
def samples_dir():
    if not SHARED_SAMPLES.is_dir():
        pytest.skip("../shared/data/longrm-official-samples is absent")
    return SHARED_SAMPLES


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """The study on the tiny config, built once per session by `make study` (tests/tiny_study.py): its
    repository and the bytes of its results. A test that changes it works on a copy (tiny_study.copy_repo)."""
    from tests.tiny_study import code_version, result_bytes, run_study

    code = code_version()
    repo = run_study(tmp_path_factory.mktemp("tiny-study"))
    same_code = code_version() == code  # a commit to this checkout meanwhile: provenance's `code` moved
    return {"repo": repo, "bytes": result_bytes(repo, same_code), "code": code if same_code else None}
