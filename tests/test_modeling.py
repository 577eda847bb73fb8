import pytest

from longrm.errors import InputError
from longrm.modeling import check_checkpoint, load_causal_lm, load_tokenizer
from tests.helpers import tiny_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def test_tiny_checkpoint_reloads(ckpt):
    tok = load_tokenizer(ckpt)
    model = load_causal_lm(ckpt)
    ids = tok("the code is 4812", return_tensors="pt")["input_ids"]
    assert model(ids).logits.shape[-1] == model.config.vocab_size
    assert tok.decode(ids[0]) == "the code is 4812"


def test_pickle_only_checkpoint_is_refused(tmp_path, ckpt):
    import shutil

    bad = tmp_path / "pickled"
    shutil.copytree(ckpt, bad)
    (bad / "model.safetensors").rename(bad / "pytorch_model.bin")
    with pytest.raises(InputError, match="refusing to unpickle"):
        check_checkpoint(bad)


def test_truncated_safetensors_is_detected(tmp_path, ckpt):
    import shutil

    bad = tmp_path / "trunc"
    shutil.copytree(ckpt, bad)
    f = bad / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(InputError, match="corrupted safetensors file"):
        load_causal_lm(bad)


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(InputError, match="never fetched from a hub"):
        load_causal_lm(tmp_path / "Qwen/Qwen3-8B")
