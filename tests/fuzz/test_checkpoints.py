"""Fuzzing the checkpoint door: `p2c convert`, the official-checkpoint converter and the Face-ID weights loader.

Good checkpoints in both torch containers and `.pdparams`, their contents edited (missing, extra, reshaped,
non-tensor values, non-string keys, widths no network has), malformed files (deep nesting, terabyte
declarations, broadcast tensors, wrong file kinds) and pickles that run code in every place of every
container (`tests/helpers/fuzz_checkpoints.py`), plus seeded truncations and bit flips. Each must convert,
or be refused with a `CheckpointError` / `WeightConversionError` that names the file, and no payload may
create its marker file.

The default run takes a seeded subset in process and one `p2c convert` process over a few files; `-m slow`
takes every case and `SLOW_MUTATED` damaged copies through the doors and through `p2c convert`.
"""

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from keras_p2c.models import Discriminator, Generator  # noqa: E402
from keras_p2c.models.face_id import INPUT_SIZE, MobileFaceNet  # noqa: E402
from keras_p2c.weights import CheckpointError, UnsafeCheckpointError, read_checkpoint  # noqa: E402
from keras_p2c.weights.convert import load_official_network  # noqa: E402
from keras_p2c.weights.mobilefacenet_table import load_mobilefacenet  # noqa: E402
from keras_p2c.weights.porting import WeightConversionError  # noqa: E402
from tests.helpers.fuzz import BAD, DEFAULT_SEED, GOOD, Case, assert_no_traceback, case_rng, write_case  # noqa: E402
from tests.helpers.fuzz_checkpoints import MARKER, UNSAFE, checkpoint_cases, good_seeds  # noqa: E402
from tests.helpers.fuzz_images import LATIN1  # noqa: E402

DEFAULT_MUTATED = 10
SLOW_MUTATED = 420
CLI_TIMEOUT = 900
NETWORKS = {"gen": "genA2B", "dis": "disGA"}


# Shares of the edited-contents cases the default run takes: a generator edit builds a Keras generator
# (~1 s), a Face-ID edit only fills the shared MobileFaceNet.
DEFAULT_EDIT_SHARE = {"gen": 0.07, "mfn": 0.5}


def default_cases(seed):
    """A seeded subset that covers each kind: every good seed, structure and malformed file and damaged copy,
    each payload once (in a seeded place, plus the generator and Face-ID doors), a share of the edits."""
    rng = case_rng(seed, "default-subset")
    payloads = set()
    kept = []
    for case in checkpoint_cases(seed, DEFAULT_MUTATED):
        door, kind = case.id.split("/")[:2]
        if kind == "hostile":
            payload = case.id.split("/")[2]
            keep = door != "file" or (payload not in payloads and rng.random() < 0.3)
            if keep:
                payloads.add(payload)
        elif "/edit-" in case.id:
            keep = rng.random() < DEFAULT_EDIT_SHARE[door]
        else:
            keep = True
        if keep:
            kept.append(case)
    return kept


CASES = default_cases(DEFAULT_SEED)


@pytest.fixture(scope="module")
def face_model():
    """One MobileFaceNet for every Face-ID case: the loader fills a given model (as `FaceFeatures` does)."""
    model = MobileFaceNet(512)
    model.build((None, INPUT_SIZE, INPUT_SIZE, 3))
    return model


def open_case(case, path, face_model):
    """The case through its door: the converted Keras network, or the checkpoint's contents."""
    door = case.id.split("/")[0]
    if door in NETWORKS:
        return load_official_network(path, network=NETWORKS[door])
    if door == "mfn":
        return load_mobilefacenet(path, model=face_model)
    return read_checkpoint(path)


def check_case(case, path, face_model):
    try:
        result = open_case(case, path, face_model)
    except (CheckpointError, WeightConversionError) as error:
        message = str(error)
        assert case.expect != GOOD, f"{case.id}: a good checkpoint was refused: {message}"
        assert path in message.splitlines()[0], message[:500]
        assert len(message) < 6000, len(message)  # at most MAX_LISTED problems
        if case.reason is not None:
            assert case.reason in message, (case.id, message[:500])
        if case.reason == UNSAFE:
            assert isinstance(error, UnsafeCheckpointError), message
        return None
    assert case.expect != BAD, f"{case.id} was accepted"
    door = case.id.split("/")[0]
    expected = {"gen": Generator, "dis": Discriminator, "mfn": MobileFaceNet, "file": tuple}[door]
    assert isinstance(result, expected), (case.id, type(result))
    return result


def test_cases_are_distinct():
    every = checkpoint_cases(DEFAULT_SEED, SLOW_MUTATED)
    assert len({case.id for case in every}) == len({case.name for case in every}) == len(every)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_checkpoint(case, tmp_path, monkeypatch, face_model):
    monkeypatch.chdir(tmp_path)  # the payloads' marker would land here
    check_case(case, write_case(tmp_path, case), face_model)
    assert not (tmp_path / MARKER).exists(), f"{case.id} ran code"


# -- the p2c convert command, many files in one process ----------------------------------------------

# `python -m keras_p2c.cli convert SRC DST` for each file, in one process (TensorFlow is imported once):
# runpy runs the CLI's __main__ as a fresh start does; stdout is strict UTF-8, as in a UTF-8 locale.
DRIVER = r"""
import io, json, runpy, sys
jobs_file, results_file = sys.argv[1:3]
jobs = json.load(open(jobs_file))
results = []
for source, destination, network in jobs:
    out, err = io.TextIOWrapper(io.BytesIO(), "utf-8"), io.TextIOWrapper(io.BytesIO(), "utf-8", "backslashreplace")
    sys.argv = ["p2c", "convert", source, destination, "--network", network]
    sys.stdout, sys.stderr = out, err
    try:
        runpy.run_module("keras_p2c.cli", run_name="__main__", alter_sys=True)
        code = None
    except SystemExit as stop:
        code = stop.code
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    out.seek(0), err.seek(0)
    results.append({"source": source, "code": code, "stdout": out.read(), "stderr": err.read()})
json.dump(results, open(results_file, "w"))
"""


def run_convert(cases, folder, timeout=CLI_TIMEOUT):
    """Every case through `p2c convert` in one process that must end by itself; returns `{case id: result}`."""
    folder.mkdir(parents=True, exist_ok=True)
    assert len({case.name for case in cases}) == len(cases)
    jobs, by_source = [], {}
    for case in cases:
        source = write_case(folder / "in", case)
        network = NETWORKS.get(case.id.split("/")[0], "genA2B")
        jobs.append([source, str(folder / "out" / f"{len(jobs)}.weights.h5"), network])
        by_source[source] = case
    (folder / "jobs.json").write_text(json.dumps(jobs))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(folder / "jobs.json"), str(folder / "results.json")], cwd=folder,
        env=env, capture_output=True, timeout=timeout,
    )  # fmt: skip
    stderr = done.stderr.decode("utf-8", "backslashreplace")
    assert_no_traceback(stderr, "p2c convert")
    assert done.returncode == 0, stderr[-3000:]
    assert not (folder / MARKER).exists(), "a payload ran"
    results = json.loads((folder / "results.json").read_text())
    for job, result in zip(jobs, results):
        case = by_source[result["source"]]
        # A Face-ID file is no Photo2Cartoon checkpoint, however good.
        expect = BAD if case.id.startswith("mfn/") else case.expect
        assert_no_traceback(result["stdout"] + result["stderr"], f"p2c convert {case.id}")
        if result["code"] == 0:
            assert expect != BAD, (case.id, result)
            assert os.path.isfile(job[1]) and " → " in result["stdout"], (case.id, result)
        else:
            assert result["code"] == 1, (case.id, result)
            assert expect != GOOD, (case.id, result)
            first = result["stderr"].splitlines()[0]  # one line naming the file (a porter's list may follow)
            assert first.startswith("p2c convert: ") and result["source"] in first, first
            assert not os.path.exists(job[1]), case.id
    return {by_source[result["source"]].id: result for result in results}


def cli_cases(seed):
    """A few files for the default command run: good ones (one named in Latin-1), refused and hostile ones."""
    seeds = {seed_id: (name, data) for seed_id, name, data in good_seeds()}
    name, data = seeds["gen/pt-zip"]
    chosen = [Case("gen/latin1-name", f"{LATIN1}-{name}", data, GOOD),
              Case("gen/pdparams", *seeds["gen/pdparams-p2"], GOOD)]  # fmt: skip
    wanted = ("file/hostile/os.system/zip-p2", "file/hostile/subprocess.Popen/legacy-obj",
              "gen/hostile/os.system-pdparams", "file/malformed/binbytes8-1TiB-legacy", "file/malformed/deep-list-zip",
              "gen/structure/ngf-20000-expanded", "dis/structure/ndf-20000-expanded", "mfn/pt-zip")  # fmt: skip
    by_id = {case.id: case for case in checkpoint_cases(seed, 0)}
    return chosen + [by_id[case_id] for case_id in wanted]


def test_convert_command_on_good_bad_and_hostile_files(tmp_path):
    results = run_convert(cli_cases(DEFAULT_SEED), tmp_path)
    assert results["gen/latin1-name"]["code"] == 0 and results["gen/pdparams"]["code"] == 0
    assert "not allowed in a weights file" in results["file/hostile/os.system/zip-p2"]["stderr"]
    assert "refused rather than built" in results["dis/structure/ndf-20000-expanded"]["stderr"]
    # A MobileFaceNet file is no Photo2Cartoon checkpoint: refused, naming the networks it should hold.
    assert "genA2B" in results["mfn/pt-zip"]["stderr"]


# -- slow: every case and hundreds of damaged copies ------------------------------------------------


@pytest.mark.slow
def test_slow_every_case_through_its_door_and_the_convert_command(tmp_path, monkeypatch, face_model):
    cases = checkpoint_cases(DEFAULT_SEED + 1, SLOW_MUTATED)
    assert len(cases) >= 500
    monkeypatch.chdir(tmp_path)
    failures = []
    for case in cases:
        path = write_case(tmp_path / "in", case)
        try:
            check_case(case, path, face_model)
        except AssertionError as error:
            failures.append(f"{case.id}: {error}")
        os.remove(path)
    assert not (tmp_path / MARKER).exists(), "a payload ran"
    assert not failures, "\n".join(failures[:20])
    results = run_convert([case for case in cases if case.id.split("/")[0] != "mfn"], tmp_path / "cli")
    print(f"slow checkpoint fuzz: {len(cases)} generated inputs in process, {len(results)} through p2c convert, "
          "0 tracebacks")  # fmt: skip
