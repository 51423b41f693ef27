import logging

import pytest

from keras_p2c.data.files import domain_folder, list_image_files


def test_lists_supported_images_sorted_and_recursive(tmp_path):
    for name in ("b.PNG", "a.jpg", "sub/c.jpeg", "d.bmp", "notes.txt", ".DS_Store"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    names = [path[len(str(tmp_path)) + 1 :] for path in list_image_files(tmp_path)]
    assert names == ["a.jpg", "b.PNG", "d.bmp", "sub/c.jpeg"]


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="trainA"):
        list_image_files(tmp_path / "trainA")


def test_folder_without_images_is_named(tmp_path):
    (tmp_path / "trainB").mkdir()
    (tmp_path / "trainB" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="No images in .*trainB"):
        list_image_files(tmp_path / "trainB")


def test_formats_tensorflow_cannot_read_are_reported(tmp_path, caplog):
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "scan.tif").write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="keras_p2c.data.files"):
        assert len(list_image_files(tmp_path)) == 1
    assert "scan.tif" in caplog.text


def test_domain_folder_names_and_bad_split(tmp_path):
    assert domain_folder(tmp_path, "train", "A") == tmp_path / "trainA"
    assert domain_folder(tmp_path, "test", "B") == tmp_path / "testB"
    with pytest.raises(ValueError, match="split"):
        domain_folder(tmp_path, "val", "A")
