"""The REST door of `p2c serve`: generated requests, good and hostile, against the running server.

Every bad request (malformed or deeply nested JSON, huge numbers, bad base64, images that are not images
or claim too many pixels, wrong shapes and dtypes, unknown models, versions, labels and signatures,
oversized and empty bodies, wrong methods, path tricks in the model name) must get a 4xx with TF
Serving's `{"error": "..."}` body; the good requests mixed in must still get their cartoons; nothing
may hang (every request has a timeout) and the server must still serve afterwards.

Cases come from a seed (`P2C_FUZZ_SEED`, as the other doors): case `i` depends only on the seed and
`i`, so the default run's 100 cases are the first 100 of the slow run's 1200 and a failing id can be
rebuilt. Each set runs twice: one request at a time on the default server, and 4 at a time on a
server with batching, where good and bad requests share batches.
"""

import base64
import collections
import concurrent.futures
import dataclasses
import functools
import http.client
import json
import shutil
import struct
import urllib.parse
import zlib

import numpy as np
import pytest

from keras_p2c.benchmarks.serve import metric_sum, scrape
from keras_p2c.serving.config_files import BatchingParameters
from keras_p2c.serving.registry import ModelRegistry
from tests.helpers.fuzz import BAD, DEFAULT_SEED, EITHER, GOOD, case_rng
from tests.helpers.serving import decode_png, face_like_png, running_server

MODEL = "photo2cartoon"
MAX_BYTES = 2 * 1024 * 1024  # small, so oversized bodies stay cheap; one float image (~0.9 MB) fits
TIMEOUT_S = 120  # per request: generous for a loaded 2-core machine, but a hang fails


@dataclasses.dataclass(frozen=True)
class Request:
    """One generated request. `body` is bytes, None, or a function making them (built when sent)."""

    id: str
    method: str
    path: str
    body: object = None
    expect: str = BAD
    images: tuple = ()  # for GOOD cartoon requests: the pool indices of the instances, in order
    chunked: bool = False
    headers: tuple = (("Content-Type", "application/json"),)

    def data(self):
        return self.body() if callable(self.body) else self.body

    def __repr__(self):
        return f"Request({self.id!r}, {self.expect})"


# -- the image pool and body builders ------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def pool():
    """Small images of the kinds a client sends (PNG RGB/gray/RGBA, JPEG, BMP), as encoded bytes."""
    import cv2
    import tensorflow as tf

    _, rgb = face_like_png(40, 56, seed=1)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])
    return (
        face_like_png(64, 64, seed=2)[0],
        tf.io.encode_png(rgb[..., :1]).numpy(),
        tf.io.encode_png(rgba).numpy(),
        tf.io.encode_jpeg(rgb, quality=80).numpy(),
        cv2.imencode(".bmp", rgb[..., ::-1])[1].tobytes(),
        face_like_png(17, 31, seed=3)[0],
    )


def b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


def dumps(value):
    return json.dumps(value).encode()


def png_claiming(width, height):
    """A valid PNG signature and IHDR claiming `width` x `height`, with a tiny (truncated) pixel stream."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def jpeg_claiming(width, height):
    """SOI and a baseline frame header claiming `width` x `height`, then nothing."""
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame


def predict_path(model=MODEL, suffix=""):
    return f"/v1/models/{model}{suffix}:predict"


def float_image(seed):
    """A [1, 256, 256, 3] image in [-1, 1] as JSON-ready lists (3 decimals keep the body under 1 MB)."""
    values = np.round(np.random.default_rng(seed).uniform(-1, 1, (1, 256, 256, 3)), 3)
    return values.tolist()


# -- case makers: each takes (rng, id prefix, turn) and returns one Request ---------------------------


def nth(kinds, turn):
    """The maker's kind for its `turn`-th case: every kind comes up in turn, so small sets cover them too."""
    return kinds[turn % len(kinds)]


def good_rows(rng, cid, turn):
    images = tuple(rng.randrange(len(pool())) for _ in range(rng.randint(1, 2)))
    body = functools.partial(lambda ims: dumps({"instances": [b64(pool()[i]) for i in ims]}), images)
    suffix = rng.choice(["", "/versions/1", "/labels/stable"])
    return Request(f"{cid}/rows{len(images)}{suffix.replace('/', '-')}", "POST", predict_path(suffix=suffix), body, GOOD, images)


def good_columns(rng, cid, turn):
    images = tuple(rng.randrange(len(pool())) for _ in range(rng.randint(1, 2)))
    extra = rng.choice([{}, {"signature_name": "serving_default"}, {"signature_name": ""}])
    body = functools.partial(lambda ims: dumps({"inputs": {"images": [b64(pool()[i]) for i in ims]}, **extra}), images)
    headers = rng.choice([(("Content-Type", "application/json"),), (("Content-Type", "text/plain"),), ()])
    return Request(f"{cid}/columns{len(images)}", "POST", predict_path(), body, GOOD, images, headers=headers)


def good_floats(rng, cid, turn):
    """Every fourth turn a float image (a ~1 MB body and a ~3 MB answer, the slow kind), else rows on a version."""
    if turn % 4:
        return good_rows(rng, cid, turn)
    body = functools.partial(lambda seed: dumps({"signature_name": "predict_images", "instances": float_image(seed)}), rng.randrange(2**32))
    return Request(f"{cid}/floats", "POST", predict_path(), body, GOOD)


def malformed_json(rng, cid, turn):
    good = dumps({"instances": [b64(pool()[0][:64])]})
    kind = nth(["truncate", "garbage", "utf8", "not-object", "syntax", "nan-only", "bom"], turn)
    body = {
        "truncate": good[: rng.randrange(1, len(good))],
        "garbage": bytes(rng.randrange(256) for _ in range(rng.randint(1, 200))),
        "utf8": b'{"instances": ["\xff\xfe\xfa"]}',
        "not-object": rng.choice([b"null", b'"instances"', b"123", b"[]", b"[{}]", b"true", b"1e999"]),
        "syntax": rng.choice([b'{"instances": [1,]}', b"{'instances': [1]}", b'{"instances" [1]}', b'{"a":1}}', b"{,}"]),
        "nan-only": rng.choice([b"NaN", b"Infinity", b'{"instances": NaN}']),
        "bom": b"\xef\xbb\xbf" + good,
    }[kind]
    # Python's json reads a UTF-8 byte-order mark as such: that body is a valid request.
    return Request(f"{cid}/json-{kind}", "POST", predict_path(), body, EITHER if kind == "bom" else BAD)


def flipped_json(rng, cid, turn):
    good = dumps({"instances": [b64(pool()[rng.randrange(len(pool()))])]})
    buffer = bytearray(good)
    for _ in range(rng.randint(1, 4)):
        buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)
    # A flip may land in a pixel of the base64 (a still-valid image): either outcome, never a 5xx.
    return Request(f"{cid}/json-flip", "POST", predict_path(), bytes(buffer), EITHER)


def deep_nesting(rng, cid, turn):
    depth = rng.choice([33, 64, 1000, 100_000])
    kind = nth(["list", "object", "instances"], turn)
    if kind == "list":
        body = b'{"instances": ' + b"[" * depth + b"1.0" + b"]" * depth + b"}"
    elif kind == "object":
        body = b'{"instances": [' + b'{"a": ' * depth + b"1" + b"}" * depth + b"]}"
    else:
        body = b'{"signature_name": "predict_images", "inputs": ' + b"[" * depth + b"]" * depth + b"}"
    return Request(f"{cid}/nest-{kind}-{depth}", "POST", predict_path(), body)


def huge_numbers(rng, cid, turn):
    number = rng.choice([b"1e999", b"-1e400", b"1" + b"0" * 400, b"9" * 5000, b"3.5e38", b"-3.5e38", b"1e-400", b"NaN", b"-Infinity"])
    body = b'{"signature_name": "predict_images", "instances": [[[[' + number + b", 0.5, 0.5]]]]}"
    return Request(f"{cid}/number-{number[:12].decode()}", "POST", predict_path(), body)


def bad_base64(rng, cid, turn):
    value = rng.choice([
        {"b64": "!!!notbase64"}, {"b64": "aGk"}, {"b64": "a"}, {"b64": "aGk=\n="}, {"b64": 123}, {"b64": None},
        {"b64": ["aGk="]}, {"b64": "aGk=", "extra": 1}, {"B64": "aGk="}, {}, {"b64": "\u00e9t\u00e9"},
    ])  # fmt: skip
    return Request(f"{cid}/b64-{json.dumps(value)[:20]}", "POST", predict_path(), dumps({"instances": [value]}))


def bad_image_bytes(rng, cid, turn):
    image = pool()[rng.randrange(len(pool()))]
    kind = nth(["png-bomb", "jpeg-bomb", "truncated", "text", "empty", "header-only", "zeros"], turn)
    data = {
        "text": b"this is not an image",
        "empty": b"",
        "truncated": image[: rng.randrange(8, max(9, len(image) // 2))],
        "header-only": image[:8],
        "png-bomb": png_claiming(rng.choice([20_000, 65_535]), rng.choice([20_000, 65_535])),
        "jpeg-bomb": jpeg_claiming(rng.choice([20_000, 65_535]), rng.choice([20_000, 65_535])),
        "zeros": bytes(rng.randint(1, 100)),
    }[kind]
    instances = [b64(data)] + [b64(pool()[0])] * rng.randint(0, 1)  # a bad image beside a good one: the whole request fails
    return Request(f"{cid}/image-{kind}", "POST", predict_path(), dumps({"instances": instances}))


def wrong_shape_or_dtype(rng, cid, turn):
    floats = {"signature_name": "predict_images"}
    body = rng.choice([
        {"instances": [1.0, 2.0]},
        {"instances": [[b64(pool()[0])]]},
        {"inputs": b64(pool()[0])},
        {"instances": [True]},
        {"instances": [None]},
        {"instances": [{"images": b64(pool()[0]), "more": 1}]},
        {"instances": [{"imgs": b64(pool()[0])}]},
        {"instances": b64(pool()[0])},
        {"instances": []},
        {"instances": [b64(pool()[0])], "inputs": [b64(pool()[0])]},
        {},
        {**floats, "instances": [[[[0.5, 0.5]]]]},
        {**floats, "instances": [[[["a", "b", "c"]]]]},
        {**floats, "inputs": [[[[0.5, 0.5, 0.5]], [[0.5]]]]},
        {**floats, "instances": [[[[True, False, True]]]]},
        {**floats, "instances": [[[[None, 0.5, 0.5]]]]},
        {**floats, "instances": [[[[{"b64": "aGk="}, 0.5, 0.5]]]]},
        {**floats, "inputs": [[[0.5, 0.5, 0.5]]]},
    ])  # fmt: skip
    return Request(f"{cid}/shape-{json.dumps(body)[:24]}", "POST", predict_path(), dumps(body))


def unknown_target(rng, cid, turn):
    body = dumps({"instances": [b64(pool()[0])]})
    kind = nth(["model", "version", "label", "signature", "signature-type"], turn)
    if kind == "model":
        path = predict_path(model=rng.choice(["nope", "Photo2Cartoon", "photo2cartoon2", "p" * 300, "__init__", "1"]))
    elif kind == "version":
        version = rng.choice(["2", "0", "99", "-1", "1.0", "+1", "0x1", "1e3", "%C2%B2", "%D9%A1", "9" * 30, "9" * 5000, " 1"])
        path = predict_path(suffix=f"/versions/{version.replace(' ', '%20')}")
    elif kind == "label":
        path = predict_path(suffix="/labels/" + rng.choice(["canary", "STABLE", "latest", "1", "%00"]))
    else:
        path = predict_path()
        if kind == "signature":
            value = rng.choice(["nope", "predict", "__saved_model_init_op", "cartoonize_photo", "Serving_Default"])
        else:
            value = rng.choice([123, [], {}, True, 0, 1.5, ["serving_default"]])
        body = dumps({"signature_name": value, "instances": [b64(pool()[0])]})
    return Request(f"{cid}/unknown-{kind}", "POST", path, body)


def oversized(rng, cid, turn):
    chunked = rng.random() < 0.5
    size = MAX_BYTES + rng.randint(1, 100_000)

    def body():
        return b'{"instances": ["' + b"x" * size + b'"]}'

    return Request(f"{cid}/oversized-{'chunked' if chunked else 'length'}", "POST", predict_path(), body, chunked=chunked)


def empty_body(rng, cid, turn):
    body = rng.choice([b"", b" ", b"\n\n", b"\x00"])
    return Request(f"{cid}/empty-{len(body)}", "POST", predict_path(), body)


def wrong_method(rng, cid, turn):
    method, path = rng.choice([
        ("PUT", predict_path()), ("DELETE", predict_path()), ("PATCH", f"/v1/models/{MODEL}"),
        ("OPTIONS", predict_path()), ("GET", predict_path()), ("POST", f"/v1/models/{MODEL}"),
        ("POST", f"/v1/models/{MODEL}/metadata"), ("DELETE", "/monitoring/prometheus/metrics"),
        ("POST", f"/v1/models/{MODEL}:classify"), ("POST", f"/v1/models/{MODEL}:regress"),
        ("GET", f"/v1/models/{MODEL}:explode"), ("TRACE", f"/v1/models/{MODEL}"),
    ])  # fmt: skip
    body = dumps({"instances": [b64(pool()[0])]}) if method in ("POST", "PUT", "PATCH") else None
    return Request(f"{cid}/method-{method}-{path.rsplit('/', 1)[-1][:20]}", method, path, body)


def path_trick(rng, cid, turn):
    quoted = urllib.parse.quote
    name = rng.choice([
        "..", "../models/" + MODEL, "%2e%2e", quoted(f"../{MODEL}", safe=""), f"{MODEL}%2F..%2F{MODEL}",
        f"{MODEL}/", f"/{MODEL}", f"{MODEL}%00", "%00", quoted("photo2cartoon\u00e9"), quoted("\U0001f600"),
        "a" * rng.choice([1000, 4000]), f"{MODEL}%20", f"{MODEL}:predict", f"{MODEL}/versions", f"{MODEL}/versions/1/x",
        f"{MODEL}/labels", f"{MODEL}/labels//", "~root", "%25", f"{MODEL};x=1", "%ff%fe",
    ])  # fmt: skip
    prefix = rng.choice(["/v1/models/", "/v1/models/", "/v1/../v1/models/", "/v1//models/", "/v2/models/"])
    # The same names in the status and metadata routes, which take GET.
    verb = nth([":predict", ":predict", "", "/metadata"], turn)
    body = dumps({"instances": [b64(pool()[0])]}) if verb == ":predict" else None
    method = "POST" if verb == ":predict" else "GET"
    return Request(f"{cid}/path-{method}-{prefix.strip('/').replace('/', '_')}-{name[:24]}", method, f"{prefix}{name}{verb}", body)


MAKERS = (
    good_rows, malformed_json, deep_nesting, huge_numbers, bad_base64, good_columns, bad_image_bytes,
    wrong_shape_or_dtype, unknown_target, good_floats, oversized, empty_body, wrong_method, path_trick, flipped_json,
)  # fmt: skip


def generate(count, seed=DEFAULT_SEED):
    """Cases 0 .. count-1; case i depends only on (seed, i), so smaller sets are prefixes of larger ones."""
    cases, turns = [], collections.Counter()
    for index in range(count):
        maker = MAKERS[index % len(MAKERS)]
        cases.append(maker(case_rng(seed, "rest", index), f"{index:04d}", turns[maker]))
        turns[maker] += 1
    return cases


# -- sending and checking --------------------------------------------------------------------------------


def send(url, case):
    """(status, content type, body bytes) of one request over a fresh connection; raw path, no normalising."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
    try:
        data = case.data()
        headers = dict(case.headers)
        try:
            if case.chunked:
                chunks = (data[i : i + 65536] for i in range(0, len(data), 65536))
                connection.request(case.method, case.path, body=chunks, headers=headers, encode_chunked=True)
            else:
                connection.request(case.method, case.path, body=data, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a server may answer (413) and close before an oversized body is all sent: read that answer
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def check(case, answer, references):
    """Asserts what `case` promises; returns True when it was answered with 200."""
    status, content_type, raw = answer
    where = f"{case!r}: HTTP {status}: {raw[:300]!r}"
    if status == 200 and case.expect in (GOOD, EITHER):
        body = json.loads(raw)
        if case.id.endswith("/floats"):
            (row,) = body["predictions"]
            assert np.array(row["image"]).shape == (256, 256, 3) and np.isfinite(row["image"]).all(), where
            return True
        outputs = body["predictions"] if "predictions" in body else body["outputs"]
        cartoons = [decode_png(base64.b64decode(item["b64"])) for item in outputs]
        assert all(c.shape == (256, 256, 3) for c in cartoons), where
        if case.expect == GOOD:
            assert len(cartoons) == len(case.images), where
            # Batched or not, 1 uint8 level apart at most (see tests/serving/test_server.py's row/column test).
            for index, cartoon in zip(case.images, cartoons):
                assert np.abs(cartoon.astype(int) - references[index].astype(int)).max() <= 1, where
        return True
    assert case.expect != GOOD, where
    assert 400 <= status < 500, where
    assert content_type.startswith("application/json"), where
    body = json.loads(raw)
    assert isinstance(body, dict) and set(body) == {"error"}, where
    assert isinstance(body["error"], str) and body["error"], where
    return False


@pytest.fixture(scope="module")
def servers(exported, tmp_path_factory):
    """(plain URL, batching URL, references): two apps over one registry; versions 1 (label stable)."""
    _, shared = exported
    model_dir = tmp_path_factory.mktemp("fuzz") / MODEL
    shutil.copytree(shared, model_dir)
    registry = ModelRegistry(model_dir, version_labels={"stable": 1}, poll_seconds=60)
    served = registry.get()
    references = [
        decode_png(served.predict("serving_default", {"images": np.array([image], object)})["cartoon_bytes"][0])
        for image in pool()
    ]
    batching = BatchingParameters(max_batch_size=8, batch_timeout_micros=2000)
    with running_server(registry, max_request_bytes=MAX_BYTES) as plain:
        with running_server(registry, max_request_bytes=MAX_BYTES, batching=batching) as batched:
            yield plain, batched, references


def _run(servers, cases):
    plain, batched, references = servers
    before = scrape(plain)
    answered = [check(case, send(plain, case), references) for case in cases]
    after = scrape(plain)
    ok = metric_sum(after, "p2c_serving_request_count_total", status="OK") - metric_sum(
        before, "p2c_serving_request_count_total", status="OK"
    )
    assert ok == sum(answered)  # every 200 counted once, under its model, version and signature
    names = {dict(items).get("model_name") for (name, items) in after if name == "p2c_serving_request_count_total"}
    assert names <= {MODEL, ""}  # hostile model names did not become label values

    # The same cases 4 at a time on the batching server: good and bad requests share batches.
    with concurrent.futures.ThreadPoolExecutor(4) as pool_:
        answers = list(pool_.map(lambda case: send(batched, case), cases))
    batched_answered = [check(case, answer, references) for case, answer in zip(cases, answers)]
    for case, one, other in zip(cases, answered, batched_answered):
        if case.expect != EITHER:
            assert one == other, case
    # Still serving after all that.
    good = Request("after/rows1", "POST", predict_path(), dumps({"instances": [b64(pool()[0])]}), GOOD, (0,))
    for url in (plain, batched):
        assert check(good, send(url, good), references)


def test_generated_requests(servers):
    cases = generate(100)
    assert sum(c.expect == GOOD for c in cases) >= 15 and sum(c.expect == BAD for c in cases) >= 70
    _run(servers, cases)


@pytest.mark.slow
def test_generated_requests_slow(servers):
    cases = generate(1200)
    assert len(cases) >= 1000
    _run(servers, cases)
