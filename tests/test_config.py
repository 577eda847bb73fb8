import copy

import pytest
import yaml

from longrm.config import DEFAULT_CONFIG, REPO_ROOT, load_config, validate
from longrm.errors import ConfigError


@pytest.mark.parametrize("name", ["default.yaml", "paper.yaml"])
def test_shipped_configs_validate(name):
    path = REPO_ROOT / "config" / name
    cfg = load_config(path)  # a shipped config that is missing fails here
    assert cfg["_path"] == str(path)


def _default():
    return yaml.safe_load(DEFAULT_CONFIG.read_text())


def test_unknown_key_names_the_key_path():
    cfg = _default()
    cfg["train"]["logo"]["betta"] = 2.5
    with pytest.raises(ConfigError, match=r"key 'train.logo'.*betta"):
        validate(cfg, "x.yaml")


def test_wrong_type_names_the_key_path():
    cfg = _default()
    cfg["train"]["logo"]["beta"] = "big"
    with pytest.raises(ConfigError, match=r"x.yaml: key 'train.logo.beta'"):
        validate(cfg, "x.yaml")


def test_missing_section_is_an_error():
    cfg = _default()
    del cfg["bench"]
    with pytest.raises(ConfigError, match="'bench' is a required property"):
        validate(cfg, "x.yaml")


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_yaml_tags_are_not_executed(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(evil)


def test_validation_does_not_mutate():
    cfg = _default()
    before = copy.deepcopy(cfg)
    validate(cfg)
    assert cfg == before


def test_load_config_fills_the_schema_defaults(tmp_path):
    """One default per key, in the schema: a key the config leaves out gets it; one it gives is kept;
    an optional stage it leaves out (train.short) stays out; list entries are filled too."""
    from longrm.config import schema_default

    cfg = _default()
    del cfg["vote"]["splits"]["analysis"], cfg["train"]["common"]["grad_cache"], cfg["train"]["short"]
    del cfg["bench"]["bootstrap"], cfg["report"]
    pointwise = next(i for i, m in enumerate(cfg["bench"]["models"]) if "format" in m)
    cfg["bench"]["models"][pointwise].pop("format")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    got = load_config(path)
    assert got["vote"]["splits"]["analysis"] == schema_default("vote.splits.analysis") == "before"
    assert got["train"]["common"]["grad_cache"] is True and got["train"]["common"]["share_prompt"] is True
    assert got["train"]["common"]["max_length"] == cfg["train"]["common"]["max_length"]  # given: kept
    assert "short" not in got["train"]
    assert got["train"]["sft"]["grad_accum"] == 1
    assert got["bench"]["bootstrap"] == 1000 and got["report"]["claims"]["chance_margin"] == 0.05
    assert got["bench"]["models"][pointwise]["format"] == "pairwise"
    assert "trust_remote_code" not in got["bench"]["models"][pointwise]  # inherits the top-level value
