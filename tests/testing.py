"""One helper that checks every keras-p2c layer the same way.

`run_layer_test` checks, for a layer class and its constructor arguments:
symbolic and eager output shapes, weight counts (and optionally names),
`get_config`/`from_config`, JSON (`serialize_keras_object` → `json` →
`deserialize_keras_object`) and `.keras` save/load round-trips with equal
outputs, one `fit` step under a compiled function, and mixed precision: outputs
in float16, weights stored in float32, every sub-layer inheriting the policy.
"""

import json
import os
import tempfile

import keras
import numpy as np


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) and isinstance(value[0], (list, tuple)) else [value]


def random_inputs(input_shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype("float32") for shape in input_shapes]


def _call(layer, inputs, **kwargs):
    return layer(inputs if len(inputs) > 1 else inputs[0], **kwargs)


def _flatten(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _wrap_in_model(layer, input_shapes):
    symbolic = [keras.Input(shape=shape[1:], batch_size=shape[0]) for shape in input_shapes]
    outputs = _call(layer, symbolic)
    return keras.Model(symbolic if len(symbolic) > 1 else symbolic[0], outputs)


def assert_outputs_close(first, second, atol=1e-5):
    for a, b in zip(_flatten(first), _flatten(second)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=atol, rtol=1e-5)


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape,
    expected_output_shape,
    expected_num_trainable_weights,
    expected_num_non_trainable_weights=0,
    expected_trainable_weight_names=None,
    run_fit=True,
    run_mixed_precision=True,
    call_kwargs=None,
    mixed_precision_output_dtype="float16",
):
    """Checks a layer the way every keras-p2c layer is checked.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_shape: one shape tuple (batch included) or a list of them for a
            multi-input layer.
        expected_output_shape: a shape tuple or a list of them.
        expected_num_trainable_weights: how many trainable variables.
        expected_num_non_trainable_weights: how many non-trainable variables.
        expected_trainable_weight_names: optional list of variable names
            (`variable.name`), in creation order.
        run_fit: also run one `fit` step of a model around the layer.
        run_mixed_precision: also run under `mixed_float16`: outputs in
            `mixed_precision_output_dtype`, every weight stored in float32.
        call_kwargs: extra keyword arguments for `call` in the eager checks.
        mixed_precision_output_dtype: the dtype every output must have under
            `mixed_float16`; the compute dtype unless the layer documents
            another (e.g. float32 embeddings).
    """
    call_kwargs = call_kwargs or {}
    input_shapes = _as_list(input_shape)
    expected_shapes = _as_list(expected_output_shape)
    inputs = random_inputs(input_shapes)

    # Symbolic shapes.
    layer = layer_cls(**init_kwargs)
    symbolic = [keras.Input(batch_shape=shape) for shape in input_shapes]
    symbolic_out = _flatten(_call(layer, symbolic))
    assert [tuple(t.shape) for t in symbolic_out] == [tuple(s) for s in expected_shapes]

    # Eager shapes and weights.
    layer = layer_cls(**init_kwargs)
    eager_out = _flatten(_call(layer, inputs, **call_kwargs))
    assert [tuple(t.shape) for t in eager_out] == [tuple(s) for s in expected_shapes]
    for tensor in eager_out:
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(tensor)))
    assert len(layer.trainable_weights) == expected_num_trainable_weights, [w.path for w in layer.trainable_weights]
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, [
        w.path for w in layer.non_trainable_weights
    ]
    if expected_trainable_weight_names is not None:
        assert [w.name for w in layer.trainable_weights] == list(expected_trainable_weight_names)

    # get_config / from_config round trip gives the same outputs with the same weights.
    config = layer.get_config()
    for key in init_kwargs:
        assert key in config, f"get_config() misses constructor argument {key!r}"
    clone = layer_cls.from_config(config)
    _call(clone, inputs)
    clone.set_weights(layer.get_weights())
    assert_outputs_close(_call(layer, inputs), _call(clone, inputs))

    # JSON round trip (what a .keras file's config.json holds) gives the same outputs with the same weights.
    text = json.dumps(keras.saving.serialize_keras_object(layer))
    clone = keras.saving.deserialize_keras_object(json.loads(text))
    assert type(clone) is layer_cls
    _call(clone, inputs)
    clone.set_weights(layer.get_weights())
    assert_outputs_close(_call(layer, inputs), _call(clone, inputs))

    # .keras round trip.
    model = _wrap_in_model(layer_cls(**init_kwargs), input_shapes)
    expected = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "layer.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path)
    assert_outputs_close(expected, reloaded.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))

    if run_fit:
        model = _wrap_in_model(layer_cls(**init_kwargs), input_shapes)
        model.compile(optimizer="adam", loss=["mse"] * len(expected_shapes))
        targets = [np.zeros(shape, "float32") for shape in expected_shapes]
        history = model.fit(
            inputs if len(inputs) > 1 else inputs[0],
            targets if len(targets) > 1 else targets[0],
            epochs=1,
            batch_size=input_shapes[0][0],
            verbose=0,
        )
        assert np.isfinite(history.history["loss"][0])

    if run_mixed_precision:
        layer = layer_cls(**init_kwargs, dtype="mixed_float16")
        outputs = _flatten(_call(layer, inputs, **call_kwargs))
        for tensor in outputs:
            dtype = keras.backend.standardize_dtype(tensor.dtype)
            assert dtype == mixed_precision_output_dtype, f"an output is {dtype} under mixed_float16"
            assert np.all(np.isfinite(keras.ops.convert_to_numpy(tensor).astype("float32")))
        for sublayer in _all_sublayers(layer):
            assert sublayer.dtype_policy.name == "mixed_float16", f"{sublayer.name} does not inherit the policy"
        for weight in layer.weights:
            assert weight.dtype == "float32", f"{weight.path} is stored as {weight.dtype}"
    return layer


def _all_sublayers(layer):
    found = []
    for sub in getattr(layer, "_layers", []):
        found.append(sub)
        found.extend(_all_sublayers(sub))
    return found


def count_params(weights):
    return int(sum(np.prod(w.shape) for w in weights))
