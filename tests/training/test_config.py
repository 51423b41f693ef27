"""The YAML → `TrainConfig` loader: defaults, overrides, errors naming key and file, the shipped configs."""

from pathlib import Path

import pytest
import yaml

from keras_p2c.training.config import ConfigError, apply_override, load_config, write_config
from keras_p2c.training.schema import TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def write_yaml(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_has_the_reference_hyper_parameters():
    config = load_config(CONFIGS / "photo2cartoon.yaml")
    m, o, loss, t = config.model, config.optimizer, config.loss, config.training
    assert (m.ngf, m.ndf, m.light, m.n_blocks, m.img_size) == (32, 32, True, 4, 256)
    assert (m.global_layers, m.local_layers, m.linear_bias) == (7, 5, True)
    assert (config.data.load_size, t.batch_size) == (286, 1)
    assert (o.learning_rate, o.beta_1, o.beta_2, o.epsilon, o.weight_decay) == (1e-4, 0.5, 0.999, 1e-8, 1e-4)
    assert (t.iterations, o.decay_start) == (1_000_000, 500_000)
    assert (loss.adv, loss.cycle, loss.identity, loss.cam, loss.face_id) == (1, 50, 10, 1000, 1)
    assert isinstance(o.learning_rate, float) and isinstance(t.iterations, int)
    # The file states every default: the dataclass defaults are the reference too.
    assert config == TrainConfig()


def test_smoke_config_is_valid_and_tiny():
    config = load_config(CONFIGS / "smoke.yaml")
    assert config.data.synthetic and config.loss.face_id == 0
    assert config.model.img_size <= 96 and config.training.iterations <= 16


def test_partial_file_keeps_defaults_and_types(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", "training:\n  batch_size: 4\noptimizer:\n  learning_rate: 2e-4\n")
    config = load_config(path)
    assert config.training.batch_size == 4
    # PyYAML reads `2e-4` as a string (YAML 1.1); a float field takes it as the number.
    assert config.optimizer.learning_rate == pytest.approx(2e-4)
    assert config.model.ngf == 32


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    path = write_yaml(tmp_path / "typo.yaml", "training:\n  batchsize: 4\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml.*'training\.batchsize'.*batch_size"):
        load_config(path)
    path = write_yaml(tmp_path / "section.yaml", "trainig:\n  batch_size: 4\n")
    with pytest.raises(ConfigError, match=r"section\.yaml.*unknown key 'trainig'"):
        load_config(path)


def test_wrong_types_and_ranges_are_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"bad\.yaml.*'model\.ngf' must be an integer.*'many'"):
        load_config(write_yaml(tmp_path / "bad.yaml", "model:\n  ngf: many\n"))
    with pytest.raises(ConfigError, match=r"'model\.light' must be true or false"):
        load_config(write_yaml(tmp_path / "bool.yaml", "model:\n  light: 1\n"))
    with pytest.raises(ConfigError, match=r"must be a mapping"):
        load_config(write_yaml(tmp_path / "list.yaml", "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match=r"range\.yaml: model\.img_size: must be a multiple of 16"):
        load_config(write_yaml(tmp_path / "range.yaml", "model:\n  img_size: 100\n"))
    with pytest.raises(ConfigError, match=r"model\.global_layers.*at least 96 px"):
        load_config(write_yaml(tmp_path / "small.yaml", "model:\n  img_size: 64\ndata:\n  load_size: 72\n"))
    with pytest.raises(ConfigError, match=r"training\.iterations.*multiple of logging\.checkpoint_every"):
        text = "training:\n  iterations: 1500\noptimizer:\n  decay_start: null\n"
        load_config(write_yaml(tmp_path / "len.yaml", text))
    with pytest.raises(ConfigError, match=r"config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_overrides(tmp_path):
    config = load_config(
        CONFIGS / "photo2cartoon.yaml",
        overrides=["training.batch_size=4", "optimizer.decay_start=null", "data.root=/data/p2c", "loss.cycle=10"],
    )
    assert config.training.batch_size == 4
    assert config.optimizer.decay_start is None
    assert config.data.root == "/data/p2c"
    assert config.loss.cycle == 10.0 and isinstance(config.loss.cycle, float)
    with pytest.raises(ConfigError, match=r"override 'training\.batchsize=4'.*unknown key.*batch_size"):
        apply_override(TrainConfig(), "training.batchsize=4")
    with pytest.raises(ConfigError, match=r"unknown section 'trainig'"):
        apply_override(TrainConfig(), "trainig.batch_size=4")
    with pytest.raises(ConfigError, match=r"expected `section\.key=value`"):
        apply_override(TrainConfig(), "training.batch_size")
    with pytest.raises(ConfigError, match=r"'training\.batch_size' must be an integer"):
        apply_override(TrainConfig(), "training.batch_size=four")
    with pytest.raises(ConfigError, match=r"is a section"):
        apply_override(TrainConfig(), "training=4")
    # Overrides are validated with the rest.
    with pytest.raises(ConfigError, match=r"model\.img_size"):
        load_config(None, overrides=["model.img_size=40"])


def test_resolved_config_round_trips_through_yaml(tmp_path):
    config = load_config(CONFIGS / "smoke.yaml", overrides=["training.batch_size=1"])
    path = write_config(config, tmp_path / "run" / "config.yaml")
    assert yaml.safe_load(path.read_text())["training"]["batch_size"] == 1
    assert load_config(path) == config
    assert not list(path.parent.glob(".*tmp*"))
