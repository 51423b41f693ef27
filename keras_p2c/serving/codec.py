"""TF Serving's REST JSON ↔ NumPy arrays, checked against a signature's tensor specs.

Request bodies come in two layouts (as in TF Serving):

* row: `{"instances": [instance, ...]}`; an instance is a value when the
  signature has one input, else a dict input name → value;
* columnar: `{"inputs": value}` or `{"inputs": {name: value, ...}}`.

Binary (string) values may be sent as `{"b64": "..."}`. Responses mirror the
request: `{"predictions": [...]}` for rows, `{"outputs": ...}` for columns, and
string outputs go back as `{"b64": "..."}`.
"""

import base64
import binascii
import math

import numpy as np

# Deeper lists than any tensor a signature takes (images are rank 4): bounding the depth keeps a hostile
# body from exhausting the recursion stack.
MAX_NESTING_DEPTH = 32


class RequestError(Exception):
    """A request the server refuses; `status` is the HTTP code (TF Serving answers 400 for bad input)."""

    status = 400


class NotFoundError(RequestError):
    """An unknown model, version, label or signature."""

    status = 404


def _leaf(value, is_string, where):
    if is_string:
        if isinstance(value, dict):
            if set(value) != {"b64"} or not isinstance(value["b64"], str):
                raise RequestError(f"{where}: a binary value must be an object with one key 'b64' holding a string")
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError) as error:
                raise RequestError(f"{where}: the 'b64' value is not valid base64 ({error})") from None
        if isinstance(value, str):
            return value.encode("utf-8")
        raise RequestError(f"{where}: expected a string or {{\"b64\": ...}}, got {type(value).__name__}")
    # bool is an int in Python; a number tensor takes only real numbers.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError(f"{where}: {value} is not a finite number")
        return value
    raise RequestError(f"{where}: expected a number, got {json_type(value)}")


def json_type(value):
    return {dict: "an object", str: "a string", list: "a list", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _to_array(value, spec, where):
    """A nested JSON list → an array of `spec`'s dtype, refusing ragged lists and wrong types."""
    is_string = spec.dtype.name == "string"
    leaves = []

    def walk(node, depth):
        if isinstance(node, list):
            if depth >= MAX_NESTING_DEPTH:
                raise RequestError(f"{where}: lists nested more than {MAX_NESTING_DEPTH} levels deep")
            shapes = [walk(child, depth + 1) for child in node]
            if any(shape != shapes[0] for shape in shapes[1:]):
                raise RequestError(f"{where}: lists of different lengths (the tensor must be rectangular)")
            return (len(node),) + (shapes[0] if shapes else ())
        leaves.append(_leaf(node, is_string, where))
        return ()

    shape = walk(value, 0)
    if is_string:
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
        array = array.reshape(shape)
    else:
        try:
            array = np.asarray(leaves, dtype=np.float64).reshape(shape)
        except OverflowError:  # an integer literal beyond float64
            raise RequestError(f"{where}: a number is out of range for a {spec.dtype.name} tensor") from None
        dtype = spec.dtype.as_numpy_dtype
        if np.issubdtype(dtype, np.integer):
            if not np.all(np.mod(array, 1) == 0):
                raise RequestError(f"{where}: expected integers for a {spec.dtype.name} tensor")
            limits = np.iinfo(dtype)
        else:
            limits = np.finfo(dtype)
        if array.size and (array.min() < limits.min or array.max() > limits.max):
            raise RequestError(f"{where}: a number is out of range for a {spec.dtype.name} tensor")
        array = array.astype(dtype)
    if not spec.shape.is_compatible_with(array.shape):
        raise RequestError(
            f"{where}: shape {list(array.shape)} does not match the signature's {_shape_text(spec.shape)} "
            f"({spec.dtype.name})"
        )
    return array


def _shape_text(shape):
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape.as_list()) + "]"


def _named_values(value, input_specs, where):
    """One instance (or the columnar `inputs`) → dict input name → JSON value."""
    names = list(input_specs)
    is_named = isinstance(value, dict) and set(value) != {"b64"}
    if not is_named:
        if len(names) != 1:
            raise RequestError(f"{where}: this signature has inputs {names}; send an object with those names")
        return {names[0]: value}
    missing = [n for n in names if n not in value]
    unknown = [n for n in value if n not in input_specs]
    if missing or unknown:
        raise RequestError(f"{where}: expected inputs {names}; missing {missing}, unknown {unknown}")
    return value


def decode_request(body, input_specs):
    """A parsed JSON body → (dict input name → array, row_format).

    Args:
        body: the decoded JSON request.
        input_specs: dict input name → `tf.TensorSpec` of the signature.
    """
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, got {json_type(body)}")
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows == has_columns:
        raise RequestError("the request must have exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    if has_columns:
        values = _named_values(body["inputs"], input_specs, "inputs")
        return {name: _to_array(values[name], input_specs[name], f"inputs[{name!r}]") for name in input_specs}, False

    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError("'instances' must be a non-empty list")
    rows = [_named_values(instance, input_specs, f"instances[{i}]") for i, instance in enumerate(instances)]
    arrays = {}
    for name, spec in input_specs.items():
        # Each instance is one batch row; check the stacked tensor against the spec.
        arrays[name] = _to_array([row[name] for row in rows], spec, f"instances (input {name!r})")
    return arrays, True


def _jsonable(array, name):
    if array.dtype == object or array.dtype.kind == "S":
        flat = [{"b64": base64.b64encode(bytes(v)).decode("ascii")} for v in array.reshape(-1)]
        encoded = np.empty(len(flat), dtype=object)
        encoded[:] = flat
        return encoded.reshape(array.shape).tolist()
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        # Strict JSON has no NaN or infinity; they come from inputs outside the model's range.
        raise RequestError(
            f"output {name!r} is not finite (NaN or infinity) for this input; check the input's value range"
        )
    return array.tolist()


def encode_response(outputs, row_format):
    """Dict output name → array → the JSON-ready response body."""
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": _jsonable(outputs[names[0]], names[0])}
        return {"outputs": {name: _jsonable(outputs[name], name) for name in names}}
    batch = {len(outputs[name]) for name in names}
    if len(batch) != 1:
        raise RequestError("the outputs have different batch sizes; use the columnar ('inputs') format")
    if len(names) == 1:
        return {"predictions": _jsonable(outputs[names[0]], names[0])}
    columns = {name: _jsonable(outputs[name], name) for name in names}
    return {"predictions": [{name: columns[name][i] for name in names} for i in range(batch.pop())]}
