"""Inputs of the photo commands: files, folders and globs → image files with output keys; the sorted walk."""

from keras_p2c.images.inputs import expand_inputs, printable_name, short_reason, unique_keys, walk_files


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_folders_files_and_globs_give_keys_relative_to_their_root(tmp_path):
    for name in ("in/b.jpg", "in/sub/a.png", "in/notes.txt", "shots/x.png", "one.jpg"):
        touch(tmp_path / name)
    inputs = [tmp_path / "in", tmp_path / "one.jpg", str(tmp_path / "shots" / "*.png"), tmp_path / "missing"]
    files, skipped = expand_inputs(inputs)
    assert [item.key for item in files] == ["b", "sub/a", "one", "x"]
    reasons = {name: reason for name, reason in skipped}
    assert "not an image file" in reasons[str(tmp_path / "in" / "notes.txt")]
    assert reasons[str(tmp_path / "missing")] == "no such file or folder"


def test_the_same_file_twice_is_taken_once_and_keys_are_made_unique(tmp_path):
    touch(tmp_path / "a.jpg")
    touch(tmp_path / "a.png")
    files, _ = expand_inputs([tmp_path, tmp_path / "a.jpg"])
    assert [item.key for item in files] == ["a", "a-2"]
    assert [item.key for item in unique_keys(files)] == ["a", "a-2"]


def test_walk_is_sorted_whatever_the_file_system_order(tmp_path):
    for name in ("b/2.png", "a/9.png", "c.png", "a/1.png"):
        touch(tmp_path / name)
    assert [p.relative_to(tmp_path).as_posix() for p in walk_files(tmp_path)] == ["c.png", "a/1.png", "a/9.png", "b/2.png"]


def test_names_and_reasons_for_reports():
    assert printable_name("caf\udce9.jpg") == "caf\\xe9.jpg"
    assert short_reason(ValueError("photo.jpg: no face\n found"), "photo.jpg") == "no face found"
    assert short_reason(ValueError(""), "x") == "ValueError"


def test_a_folder_gives_every_format_read_image_reads(tmp_path):
    """AVIF, Radiance HDR, PFM, Sun raster, ... in a folder are photos too, not 'not an image file'."""
    import cv2
    import numpy as np

    from keras_p2c.images.headers import image_format
    from keras_p2c.images.io import read_image

    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    written = {}
    for suffix in (".avif", ".hdr", ".pic", ".pfm", ".pam", ".sr", ".ras", ".webp", ".tiff"):
        image = rgb.astype(np.float32) / 255.0 if suffix in (".hdr", ".pic", ".pfm") else rgb
        try:
            ok, data = cv2.imencode(suffix, image)
        except cv2.error:  # a codec this OpenCV build lacks
            continue
        if ok:
            written[suffix] = image_format(data.tobytes())
            touch(tmp_path / f"photo{suffix}").write_bytes(data.tobytes())
    assert {".avif", ".hdr", ".pfm", ".ras"} <= set(written), written  # what opencv-python wheels write
    files, skipped = expand_inputs([tmp_path])
    assert skipped == []
    assert sorted(item.path.suffix for item in files) == sorted(written)
    for item in files:
        assert read_image(item.path).shape == (16, 16, 3), item.path
