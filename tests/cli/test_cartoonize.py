"""`p2c cartoonize` end to end on photos written to disk, good and bad ones mixed."""

import struct

import cv2
import numpy as np
import pytest

from keras_p2c.cli.main import main as p2c
from tests.helpers.images import png_bytes, png_chunk, with_exif_orientation


def jpeg(rgb, quality=92):
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def png(image_bgr_or_gray):
    ok, data = cv2.imencode(".png", image_bgr_or_gray)
    assert ok
    return data.tobytes()


def palette_png(rgb):
    """An 8-bit palette PNG (6 levels per channel, 216 colours)."""
    levels = np.round(rgb.astype(np.float32) / 51.0).astype(np.uint8)  # 0..5
    indices = levels[..., 0] * 36 + levels[..., 1] * 6 + levels[..., 2]
    palette = [[r * 51, g * 51, b * 51] for r in range(6) for g in range(6) for b in range(6)]
    return png_bytes(indices, color_type=3, palette=palette)


def cartoonize(*args, weights, cache_dir):
    return p2c(["cartoonize", *map(str, args), "--weights", str(weights), "--cache-dir", str(cache_dir), "--quiet"])


def read_png(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def test_a_real_photo_becomes_a_cartoon_png(astronaut, tmp_path, small_checkpoint, cache_dir, capsys):
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(jpeg(astronaut))
    assert cartoonize(photo, "-o", tmp_path / "out", weights=small_checkpoint, cache_dir=cache_dir) == 0
    cartoon = read_png(tmp_path / "out" / "astronaut_cartoon.png")
    assert cartoon.shape == (256, 256, 3) and cartoon.dtype == np.uint8
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["astronaut_cartoon.png"]
    assert "1 of 1 input(s) processed (1 face(s)), 0 skipped" in capsys.readouterr().out


def test_the_default_runtime_is_auto_and_openvino_gives_the_same_cartoon(
    astronaut, tmp_path, small_checkpoint, cache_dir, capsys, monkeypatch
):
    pytest.importorskip("openvino")
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(jpeg(astronaut))
    assert cartoonize(photo, "-o", tmp_path / "tf", "--runtime", "tensorflow", weights=small_checkpoint, cache_dir=cache_dir) == 0
    assert "generator: tensorflow float32" in capsys.readouterr().out
    monkeypatch.delenv("KERAS_P2C_RUNTIME", raising=False)  # the suite's default (tests/conftest.py), not a user's
    assert cartoonize(photo, "-o", tmp_path / "auto", weights=small_checkpoint, cache_dir=cache_dir) == 0
    out = capsys.readouterr().out
    # What auto settles on depends on the CPU (bf16 units) and on this test network's check; it says which.
    assert "generator: openvino" in out or "passed over openvino" in out, out
    args = ("--runtime", "openvino", "--precision", "float32")
    assert cartoonize(photo, "-o", tmp_path / "ov", *args, weights=small_checkpoint, cache_dir=cache_dir) == 0
    assert "generator: openvino float32 (max |difference|" in capsys.readouterr().out
    # ngf-8 test network: OpenVINO float32 is ~3e-4 from Keras on the image in [-1, 1], a level at most in uint8.
    on_openvino, on_tensorflow = (read_png(tmp_path / d / "astronaut_cartoon.png").astype(int) for d in ("ov", "tf"))
    assert int(np.abs(on_openvino - on_tensorflow).max()) <= 1


def test_a_batch_of_good_and_bad_files(astronaut, tmp_path, small_checkpoint, cache_dir, capsys):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    good = {
        "plain.jpg": jpeg(astronaut),
        # Stored turned a quarter to the left, with the EXIF tag that turns it upright again.
        "exif_rotated.jpg": with_exif_orientation(jpeg(np.rot90(astronaut[:, 40:]).copy()), 6),
        "gray.png": png(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)),
        "rgba.png": png(np.dstack([astronaut[:, :, ::-1], np.full((512, 512), 255, np.uint8)])),
        "deep.png": png(astronaut[:, :, ::-1].astype(np.uint16) * 257),
        "sub/palette.png": palette_png(astronaut),
        # Processed, with a note in the summary:
        "tiny.png": png(cv2.resize(astronaut, (96, 96), interpolation=cv2.INTER_AREA)[:, :, ::-1]),
        "border.png": png(np.pad(astronaut[:, 212:, ::-1], ((0, 0), (0, 212), (0, 0)), constant_values=255)),
        "pair.png": png(np.hstack([astronaut, astronaut[:, ::-1]])[:, :, ::-1]),
    }
    bad = {
        "corrupt.jpg": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
        "truncated.png": png(astronaut[:, :, ::-1])[:5000],
        "empty.png": b"",
        "text.jpg": b"this is not a photo\n",
        "no_face.png": png(np.full((240, 320, 3), 180, np.uint8)),
        # A header claiming 20000 x 20000 pixels: refused before decoding (default limit 100 MP).
        "bomb.png": b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20_000, 20_000, 8, 2, 0, 0, 0)),
    }
    for name, data in {**good, **bad}.items():
        (photos / name).write_bytes(data)
    (photos / "readme.txt").write_text("notes")

    out = tmp_path / "out"
    assert cartoonize(photos, tmp_path / "absent.jpg", "-o", out, weights=small_checkpoint, cache_dir=cache_dir) == 0
    for name in good:
        cartoon = read_png(out / (name.rsplit(".", 1)[0] + "_cartoon.png"))
        assert cartoon.shape == (256, 256, 3)
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert len(written) == len(good)  # nothing for the bad files, no temporary files left behind

    report = capsys.readouterr().out
    # Every input counts: the photos, the bad files, readme.txt and the absent file (processed + skipped).
    assert f"{len(good)} of {len(good) + len(bad) + 2} input(s) processed" in report
    assert f", {len(bad) + 2} skipped ->" in report
    reasons = {
        "corrupt.jpg": "truncated or corrupt",
        "truncated.png": "truncated or corrupt",
        "empty.png": "empty",
        "text.jpg": "not an image",
        "no_face.png": "no face found",
        "bomb.png": "400,000,000 pixels",
        "readme.txt": "not an image file",
        "absent.jpg": "no such file",
    }
    lines = report.splitlines()
    notes = {
        "tiny.png": "face is small (37 px crop, enlarged 6.9x)",
        "border.png": "of its crop is outside the photo",
        "pair.png": "2 faces found, the largest cartoonized",
    }
    reasons.update(notes)
    assert f"notes on {len(notes)}:" in report and f"skipped {len(bad) + 2}:" in report
    for name, reason in reasons.items():
        (line,) = [line for line in lines if line.strip().split(":")[0].endswith(name)]
        assert reason in line, line


def test_options_all_faces_paste_back_aligned_no_mask_and_globs(two_faces, tmp_path, small_checkpoint, cache_dir):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "pair.jpg").write_bytes(jpeg(two_faces))
    (tmp_path / "in" / "pair.png").write_bytes(png(two_faces[:, :, ::-1]))  # same stem: named apart
    out = tmp_path / "out"
    options = ["--all-faces", "--paste-back", "--save-aligned", "--save-prepared", "--no-mask", "--detect-size", "1024"]
    rc = cartoonize(str(tmp_path / "in" / "pair.*"), "-o", out, *options, weights=small_checkpoint, cache_dir=cache_dir)
    assert rc == 0
    for stem in ("pair", "pair-2"):
        for role in ("cartoon_1", "cartoon_2", "aligned_1", "aligned_2", "prepared_1", "prepared_2"):
            assert (out / f"{stem}_{role}.png").is_file(), (stem, role)
        pasted = read_png(out / f"{stem}_pasted.png")
        assert pasted.shape == two_faces.shape
        aligned = read_png(out / f"{stem}_aligned_1.png")
        assert aligned.shape[0] == aligned.shape[1] > 100
        assert read_png(out / f"{stem}_prepared_1.png").shape == (256, 256, 3)  # the generator's input
        # No mask: nothing is composited on white, the corners are the generator's own pixels.
        assert (read_png(out / f"{stem}_cartoon_1.png")[:12, :12] != 255).any()


def test_exit_status_is_1_only_when_nothing_was_processed(tmp_path, small_checkpoint, cache_dir, capsys):
    (tmp_path / "empty.jpg").write_bytes(b"")
    weights = {"weights": small_checkpoint, "cache_dir": cache_dir}
    assert cartoonize(tmp_path / "empty.jpg", "-o", tmp_path / "out", **weights) == 1
    assert "0 of 1 input(s) processed" in capsys.readouterr().out
    assert cartoonize(tmp_path / "nothing*.jpg", "-o", tmp_path / "out", **weights) == 1
    assert "matches no file" in capsys.readouterr().out


def test_unusable_weights_are_reported(astronaut, tmp_path, capsys):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(jpeg(astronaut))
    assert cartoonize(photo, "-o", tmp_path / "out", weights=tmp_path / "missing.pt", cache_dir=tmp_path) == 1
    assert "missing.pt" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_max_pixels_limit_is_an_option(astronaut, tmp_path, small_checkpoint, cache_dir, capsys):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(jpeg(astronaut))
    args = ["-o", tmp_path / "out", "--max-pixels", "100000"]
    assert cartoonize(photo, *args, weights=small_checkpoint, cache_dir=cache_dir) == 1
    assert "262,144 pixels, more than the limit of 100,000" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        p2c(["cartoonize", str(photo)])  # -o is required
