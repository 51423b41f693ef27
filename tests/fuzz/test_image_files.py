"""Fuzzing the image door: every file a user may hand `p2c cartoonize`, `p2c prepare-dataset` or the predictor.

Good files in every layout (CMYK, 16-bit, palette, gray + alpha, animated, multi-page, 1x1, 1x4000, wrong
suffixes, names that are not UTF-8), refused files (empty, text, PDF, HEIC, bare signatures), decompression
bombs for every format OpenCV decodes here, and seeded truncations and bit flips of the good ones
(`tests/helpers/fuzz_images.py`). Each must be read as RGB uint8 or refused with an `ImageReadError` whose
one-line message names the file; a batch goes on past the bad ones and still writes the good ones' outputs.

The default run takes every fixed case and `DEFAULT_MUTATED` damaged copies in process, plus one real
`p2c cartoonize` over a folder of all of them; `-m slow` takes `SLOW_MUTATED` damaged copies through the
same checks and both CLI commands. `P2C_FUZZ_SEED=<n>` draws other copies.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PIL", reason="Pillow (a scikit-image dependency, in the test extra) writes the layouts")

from keras_p2c.images import DEFAULT_MAX_PIXELS, ImageReadError, ImageTooLargeError, expand_inputs, read_image
from keras_p2c.images.headers import header_size
from tests.helpers.fuzz import BAD, DEFAULT_SEED, EITHER, GOOD, assert_no_traceback, write_case
from tests.helpers.fuzz_images import BOMB_REASON, LATIN1, expected, image_cases

DEFAULT_MUTATED = 24
SLOW_MUTATED = 560
# Damaged copies, the predictor and the commands run with this limit: a flipped header can still declare up
# to this many pixels, which OpenCV then allocates (12 MB as RGB) before finding the data broken.
FUZZ_MAX_PIXELS = 1 << 22
# Real portraits mixed into every batch: their cartoons must be written whatever else the folder holds.
PORTRAITS = ("portrait.jpg", f"{LATIN1}-portrait.png")
CLI_TIMEOUT = 600

CASES = image_cases(DEFAULT_SEED, DEFAULT_MUTATED)


def check_read(case, path):
    """`read_image` on one case: the image for good/damaged ones, or `None` after a clear refusal."""
    max_pixels = FUZZ_MAX_PIXELS if case.expect == EITHER else DEFAULT_MAX_PIXELS
    try:
        image = read_image(path, max_pixels=max_pixels)
    except ImageReadError as error:
        message = str(error)
        assert case.expect != GOOD, f"{case.id}: a good file was refused: {message}"
        assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 400, message
        if case.reason is not None:
            assert case.reason in message, (case.id, message)
        if case.reason == BOMB_REASON:
            assert isinstance(error, ImageTooLargeError), message
        return None
    assert case.expect != BAD, f"{case.id} was read as {image.shape}"
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 1
    assert image.shape[0] * image.shape[1] <= max_pixels
    if case.expect == GOOD:
        outcome = expected(case.id)
        assert image.shape[:2] == outcome.shape, case.id
        if outcome.colour is not None:
            colour, tolerance = outcome.colour
            assert np.abs(image[0, 0].astype(int) - colour).max() <= tolerance, (case.id, image[0, 0], colour)
        if "exif" not in case.id:  # the pixel limit is checked on the size the header declares
            assert header_size(case.data) == (image.shape[1], image.shape[0]), case.id
    return image


def test_cases_are_distinct():
    every = image_cases(DEFAULT_SEED, SLOW_MUTATED)
    assert len({case.id for case in every}) == len({case.name for case in every}) == len(every)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_read_image(case, tmp_path):
    check_read(case, write_case(tmp_path, case))


# -- bombs in a child process whose address space is capped -----------------------------------------

MEMORY_CHILD = r"""
import json, resource, sys
from keras_p2c.images import ImageReadError, ImageTooLargeError, read_image
# What the process has mapped after its imports, plus a little: any decoder allocating a bomb's size fails.
mapped = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (mapped + (256 << 20),) * 2)
results = {}
for path, max_pixels in json.load(open(sys.argv[1])):
    try:
        results[path] = "read %dx%d" % read_image(path, max_pixels=max_pixels).shape[:2]
    except ImageTooLargeError as error:
        results[path] = "too large: " + str(error)
    except ImageReadError as error:
        results[path] = "refused: " + str(error)
# VmHWM, not ru_maxrss: that one counts the pages shared with the parent between fork and exec.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) // 1024
print(json.dumps({"results": results, "peak_rss_mb": peak}))
"""


def run_capped(jobs, folder):
    """`read_image` on each `(path, max_pixels)` in a process whose address space is capped; it must end in 120 s."""
    listing = Path(folder) / "paths.json"
    listing.write_text(json.dumps(jobs))
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(listing)], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, OPENCV_LOG_LEVEL="SILENT"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert_no_traceback(done.stderr, "the capped reader")
    return json.loads(done.stdout)


def test_every_case_in_bounded_memory_and_time(tmp_path):
    """256 MB more address space than the imports need is plenty for every case: each bomb is refused from
    its header (before `images.headers` read every format OpenCV decodes, TIFF, PNM, PFM, HDR and Sun raster
    bombs made OpenCV allocate 2.7-10.8 GB), and the whole set is read within the child's timeout."""
    check_capped({write_case(tmp_path / "in", case): case for case in CASES}, tmp_path)


def check_capped(paths, folder):
    """Every `{path: case}` read in the capped child: good ones read, bad ones refused, none out of memory."""
    jobs = [(path, FUZZ_MAX_PIXELS if case.expect == EITHER else DEFAULT_MAX_PIXELS) for path, case in paths.items()]
    report = run_capped(jobs, folder)
    for path, case in paths.items():
        outcome = report["results"][path]
        if case.expect == GOOD:
            assert outcome.startswith("read "), (case.id, outcome)
        elif case.expect == BAD:
            wanted = "too large: " if case.reason == BOMB_REASON else "refused: "
            assert outcome.startswith(wanted), (case.id, outcome)
        assert "Insufficient memory" not in outcome, (case.id, outcome)
    assert report["peak_rss_mb"] < 250, report["peak_rss_mb"]


# -- the folder: input discovery, the predictor, dataset preparation, the CLI -----------------------


def portrait_bytes(astronaut):
    ok, jpeg = cv2.imencode(".jpg", astronaut[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    ok2, png = cv2.imencode(".png", astronaut[:, ::-1, ::-1])  # mirrored: another photo
    assert ok and ok2
    return [jpeg.tobytes(), png.tobytes()]


def write_folder(folder, cases, astronaut):
    """All cases and the two portraits under `folder`; returns `{path: case or None (portrait)}`."""
    written = {write_case(folder, case): case for case in cases}
    for name, data in zip(PORTRAITS, portrait_bytes(astronaut)):
        path = os.path.join(os.fsdecode(folder), name)
        with open(os.fsencode(path), "wb") as handle:
            handle.write(data)
        written[path] = None
    return written


@pytest.fixture(scope="module")
def folder(tmp_path_factory, astronaut):
    root = tmp_path_factory.mktemp("fuzz-images") / "in"
    return root, write_folder(root, CASES, astronaut)


def test_every_file_of_the_folder_is_found_or_reported(folder):
    root, written = folder
    files, skipped = expand_inputs([root])
    found = {str(item.path) for item in files}
    reported = {name for name, _ in skipped}
    assert found | reported == set(written) and not found & reported
    for name, reason in skipped:  # only suffixes outside IMAGE_SUFFIXES (.jp2, .avif, ...) are skipped
        assert reason.startswith("not an image file (suffix"), (name, reason)


def check_batch(results, written):
    """The predictor's `(source, result)` pairs: one per input, portraits cartoonized, bad files skipped.

    A good file may hold no face (most seeds are patterns), and MTCNN may see one in a pattern.
    """
    from keras_p2c.inference import SkippedPhoto

    assert [str(source) for source, _ in results] == list(written)
    for source, result in results:
        case = written[str(source)]
        if case is None:
            assert not isinstance(result, SkippedPhoto), result.reason
            assert result.outputs.shape == (1, 256, 256, 3) and np.isfinite(result.outputs).all()
            continue
        if isinstance(result, SkippedPhoto):
            assert case.expect != GOOD or "no face found" in result.reason, (case.id, result.reason)
            assert "\n" not in result.reason and result.reason, case.id
            if case.expect == BAD and case.reason is not None:
                assert case.reason in result.reason, (case.id, result.reason)
        else:
            assert case.expect != BAD, case.id


def run_predictor(generator, written):
    from keras_p2c.inference import Photo2Cartoon

    predictor = Photo2Cartoon(weights=generator, segmenter=None, max_pixels=FUZZ_MAX_PIXELS, batch_size=4)
    return list(predictor.iter_cartoonize(list(written), errors="return"))


def test_the_predictor_skips_each_bad_file(folder, small_generator):
    """Without the portraits: reading and face detection of every case, no generator run (dataset
    preparation and the command below write the portraits' outputs from the same folder)."""
    _, written = folder
    cases = {path: case for path, case in written.items() if case is not None}
    check_batch(run_predictor(small_generator, cases), cases)


def check_preparation(root, output, written):
    """A prepared data set's report: every input recorded once, the portraits written, nothing failed."""
    report = json.loads((Path(output) / "prepare_report.json").read_text(encoding="utf-8"))
    summary, records = report["summary"], {record["file"]: record for record in report["files"]}
    assert summary["failed"] == 0, [r for r in records.values() if r["status"] == "failed"][:3]
    assert summary["photos"] == len(written) == summary["written"] + summary["skipped"] + summary["already_done"]
    assert set(records) == set(written)
    for path, case in written.items():
        record = records[path]
        if case is None:
            assert record["status"] == "written" and len(record["outputs"]) == 1, record
            assert (Path(output) / record["outputs"][0]).is_file()
        elif case.expect == BAD:
            assert record["status"] == "skipped" and record["reason"], record
            if case.reason is not None and not record["reason"].startswith("not an image file (suffix"):
                assert case.reason in record["reason"], (case.id, record["reason"])
    return summary


def test_dataset_preparation_records_every_file(folder, tmp_path):
    from keras_p2c.data.preparation import PrepOptions, prepare_dataset

    root, written = folder
    options = PrepOptions(str(tmp_path / "data"), mask=False, test_fraction=0.0, max_pixels=FUZZ_MAX_PIXELS)
    prepare_dataset(root, options, progress=False)
    check_preparation(root, tmp_path / "data", written)


def run_cli(args, cwd, timeout=CLI_TIMEOUT):
    """`p2c ARGS` in a fresh process that must end by itself, with stdout strictly UTF-8 (a UTF-8 desktop locale)."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("OPENCV_LOG_LEVEL", None)  # p2c itself must keep OpenCV quiet
    done = subprocess.run(
        [sys.executable, "-m", "keras_p2c.cli", *map(os.fsencode, args)], cwd=cwd, env=env, capture_output=True,
        timeout=timeout,
    )  # fmt: skip
    stdout = done.stdout.decode("utf-8")  # strict: p2c prints names that are not UTF-8 with \x escapes
    stderr = done.stderr.decode("utf-8", "backslashreplace")
    assert_no_traceback(stdout + stderr, f"p2c {args[0]}")
    assert "[ERROR:" not in stderr and "[ WARN:" not in stderr, stderr[-2000:]
    return done.returncode, stdout, stderr


SUMMARY = re.compile(r"p2c cartoonize: (\d+) of (\d+) input\(s\) processed \((\d+) face\(s\)\), (\d+) skipped")


def check_cartoonize(stdout, out, written):
    counts = SUMMARY.search(stdout)
    assert counts, stdout[-2000:]
    processed, total, faces, skipped = map(int, counts.groups())
    assert total == len(written) == processed + skipped  # every file of the folder counts
    assert processed >= len(PORTRAITS) and faces >= len(PORTRAITS)
    lines = stdout.splitlines()
    listed = lines[lines.index(f"skipped {skipped}:") + 1 :][:skipped]
    assert len(listed) == skipped
    printable = {path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"): case
                 for path, case in written.items()}  # fmt: skip
    for line in listed:
        name, _, reason = line.strip().partition(": ")
        case = printable[name]
        assert case is not None, line  # the portraits are processed
        assert case.expect != GOOD or "no face found" in reason or reason.startswith("not an image file"), line
        if case.expect == BAD and case.reason is not None and not reason.startswith("not an image file (suffix"):
            assert case.reason in reason, line
    for name in PORTRAITS:
        stem = name.rsplit(".", 1)[0]
        cartoon = cv2.imdecode(np.fromfile(os.fsencode(os.path.join(out, f"{stem}_cartoon.png")), np.uint8), -1)
        assert cartoon is not None and cartoon.shape == (256, 256, 3)


def cartoonize_args(root, out, weights, cache_dir):
    return ["cartoonize", root, "-o", out, "--weights", weights, "--cache-dir", cache_dir, "--no-mask", "--quiet",
            "--max-pixels", str(FUZZ_MAX_PIXELS)]  # fmt: skip


def test_cartoonize_command_on_the_whole_folder(folder, small_generator, small_checkpoint, cache_dir, tmp_path):
    """`small_generator` first: the checkpoint's conversion is then in `cache_dir` for the command."""
    root, written = folder
    out = tmp_path / "out"
    code, stdout, _ = run_cli(cartoonize_args(root, out, small_checkpoint, cache_dir), cwd=tmp_path)
    assert code == 0, stdout[-2000:]
    check_cartoonize(stdout, str(out), written)


# -- slow: hundreds of damaged copies through every door --------------------------------------------


@pytest.mark.slow
def test_slow_hundreds_of_damaged_images_through_every_door(tmp_path, astronaut, small_generator, small_checkpoint,
                                                            cache_dir):
    cases = image_cases(DEFAULT_SEED + 1, SLOW_MUTATED)
    assert len(cases) >= 500
    root = tmp_path / "in"
    written = write_folder(root, cases, astronaut)
    failures = []
    for path, case in written.items():
        if case is None:
            continue
        try:
            check_read(case, path)
        except AssertionError as error:
            failures.append(f"{case.id}: {error}")
    assert not failures, "\n".join(failures[:20])
    check_capped({path: case for path, case in written.items() if case is not None}, tmp_path)
    check_batch(run_predictor(small_generator, written), written)

    code, stdout, _ = run_cli(cartoonize_args(root, tmp_path / "out", small_checkpoint, cache_dir), cwd=tmp_path)
    assert code == 0
    check_cartoonize(stdout, str(tmp_path / "out"), written)

    data = tmp_path / "data"
    code, stdout, _ = run_cli(
        ["prepare-dataset", root, "-o", data, "--no-mask", "--quiet", "--test-fraction", "0",
         "--max-pixels", str(FUZZ_MAX_PIXELS)], cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, stdout
    summary = check_preparation(root, data, written)
    assert f"p2c prepare-dataset: {summary['photos']} file(s): {summary['written']} written" in stdout
    print(f"slow image fuzz: {len(cases)} generated inputs (+{len(PORTRAITS)} portraits), 0 tracebacks")
