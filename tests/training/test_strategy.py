"""Device strategy selection: one device by default, the TF_CONFIG rules, and no tf.distribute off TensorFlow."""

import json

import keras
import pytest
import tensorflow as tf

from keras_p2c.training import strategy as strategies


def test_auto_on_one_device_is_the_default_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = strategies.select_strategy("auto")
    if len(tf.config.list_logical_devices("GPU")) > 1:
        assert isinstance(strategy, tf.distribute.MirroredStrategy)
    else:
        assert strategy is tf.distribute.get_strategy()
        assert strategies.replica_count(strategy) == 1
    assert "replica" in strategies.describe(strategy)


def test_mirrored_on_request():
    strategy = strategies.select_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    with strategies.strategy_scope(strategy):
        variable = keras.Variable(1.0)
    assert strategies.replica_count(strategy) == max(1, len(tf.config.list_logical_devices("GPU")))
    assert float(variable.numpy()) == 1.0


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        strategies.select_strategy("multi_worker")
    with pytest.raises(ValueError, match="Unknown strategy"):
        strategies.select_strategy("tpu")


def test_tf_config_chief_and_worker_roles(monkeypatch):
    cluster = {"worker": ["host1:2222", "host2:2222"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert strategies.is_chief() and strategies.worker_suffix() == ""
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not strategies.is_chief() and strategies.worker_suffix() == "worker_1"
    with_chief = {"chief": ["host0:2222"], **cluster}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}}))
    assert not strategies.is_chief()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG.*not valid JSON"):
        strategies.is_chief()


def test_no_tf_distribute_off_the_tensorflow_backend(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert strategies.select_strategy("auto") is None
    assert strategies.select_strategy("mirrored") is None
    assert strategies.replica_count(None) == 1
    with strategies.strategy_scope(None):
        pass
    assert "jax" in strategies.describe(None)
