"""`Photo2Cartoon` on the astronaut photo with a small generator converted from a torch checkpoint."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from keras_p2c.faces import NoFaceError
from keras_p2c.faces.crop import crop_corners_in_image
from keras_p2c.inference import SkippedPhoto


def test_run_returns_the_cartoon_and_saves_like_paddlegan(make_predictor, astronaut, tmp_path):
    predictor = make_predictor(output_path=tmp_path / "out")
    cartoon = predictor.run(astronaut)
    assert cartoon.shape == (256, 256, 3) and cartoon.dtype == np.uint8

    saved = cv2.imread(str(tmp_path / "out" / "p2c_cartoon.png"))[:, :, ::-1]
    np.testing.assert_array_equal(saved, cartoon)
    aligned = cv2.imread(str(tmp_path / "out" / "p2c_photo.png"))
    assert aligned.shape[0] == aligned.shape[1] > 100  # the square crop at the photo's resolution
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p2c_cartoon.png", "p2c_photo.png"]

    # The cartoon is the generator's output on the masked face, composited on white with the same mask.
    (face,) = predictor.prepare(astronaut).faces
    output = np.asarray(predictor.generator(face.input_256[None])[0])[0]
    mask = face.mask_256[:, :, None]
    expected = np.clip((output + 1) * 127.5, 0, 255) * mask + 255 * (1 - mask)
    # `run` uses the traced predict function, `expected` an eager call: not the same float order. A
    # truncated value is within 1 level of its float; the rest is 127.5 x the float spread, measured
    # <= 6.3e-6 traced vs eager (float32 vs float64: 8.3e-6) under default, ONEDNN_MAX_CPU_ISA=AVX2
    # and TF_ENABLE_ONEDNN_OPTS=0, i.e. up to 8e-4 of a level: 1e-3 left no margin, 1e-2 leaves ~10x.
    assert np.abs(cartoon.astype(float) - expected).max() <= 1.0 + 1e-2
    assert (cartoon[face.mask_256 < 1e-3] >= 254).all()  # background is white (truncated, as the reference)
    assert 0.2 < (face.mask_256 > 0.5).mean() < 0.95  # and the mask kept the person


def test_paste_back_changes_only_pixels_near_the_face(make_predictor, astronaut):
    predictor = make_predictor(paste_back=True)
    whole = predictor.run(astronaut)
    assert whole.shape == astronaut.shape and whole.dtype == np.uint8

    (face,) = predictor.prepare(astronaut).faces
    corners = crop_corners_in_image(face.matrix, face.crop_box)
    near = np.zeros(astronaut.shape[:2], np.uint8)
    cv2.fillConvexPoly(near, np.round(corners).astype(np.int32), 1)
    near = cv2.dilate(near, np.ones((5, 5), np.uint8))  # bilinear warp reaches a pixel beyond the crop
    changed = np.any(whole != astronaut, axis=2)
    assert changed.sum() > 0.3 * near.sum()  # the face region was replaced
    assert not changed[near == 0].any()  # nothing outside it moved


def test_all_faces_gives_one_cartoon_per_face(make_predictor, two_faces):
    cartoons = make_predictor(all_faces=True, detect_size=None).run(two_faces)
    assert isinstance(cartoons, list) and len(cartoons) == 2
    assert all(c.shape == (256, 256, 3) and c.dtype == np.uint8 for c in cartoons)

    whole = make_predictor(all_faces=True, paste_back=True, detect_size=None).run(two_faces)
    changed = np.any(whole != two_faces, axis=2)
    assert changed[:, :512].any() and changed[:, 512:].any()
    assert not changed[400:].any()  # below the faces nothing changes


def test_run_batch_matches_single_runs_and_names_outputs(make_predictor, astronaut, tmp_path):
    photo = tmp_path / "photos" / "anna.jpg"
    photo.parent.mkdir()
    cv2.imwrite(str(photo), astronaut[:, ::-1, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    single = make_predictor()
    batched = make_predictor(batch_size=2, output_path=tmp_path / "out")  # 3 faces: a full batch, then 1
    sources = [astronaut, photo, astronaut[:, ::-1].copy()]
    results = batched.run_batch(sources)
    assert len(results) == 3
    for source, result in zip(sources, results):
        # Same numbers up to float order of the batched convolutions; uint8 truncation can flip by 1.
        assert np.abs(result.astype(int) - single.run(source).astype(int)).max() <= 1
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "anna_cartoon.png" in names and len(names) == 6  # stems; the arrays are numbered apart


def test_iter_cartoonize_skips_bad_photos_in_order(make_predictor, astronaut):
    blank = np.full((200, 300, 3), 200, np.uint8)
    sources = [astronaut, blank, b"\x89PNG\r\n\x1a\nnot really", astronaut[:, ::-1].copy()]
    results = list(make_predictor(batch_size=3, segmenter=None).iter_cartoonize(sources, errors="return"))
    assert [source is original for (source, _), original in zip(results, sources)] == [True] * 4
    kinds = [type(result).__name__ for _, result in results]
    assert kinds == ["Cartoonization", "SkippedPhoto", "SkippedPhoto", "Cartoonization"]
    assert "no face found" in results[1][1].reason
    assert "truncated or corrupt" in results[2][1].reason and results[2][1].name == "<image bytes>"
    assert results[3][1].outputs.shape == (1, 256, 256, 3)

    with pytest.raises(NoFaceError, match="no face found"):
        make_predictor(segmenter=None).run(blank)
    assert isinstance(results[1][1], SkippedPhoto)


def test_without_a_mask_the_whole_crop_is_used(make_predictor, astronaut):
    predictor = make_predictor(segmenter=None)
    result = predictor.cartoonize(astronaut)
    assert (result.faces[0].mask_256 == 1).all()
    cartoon = result.cartoons[0]
    # No white-composited background: the cartoon corners are the generator's own pixels.
    np.testing.assert_array_equal(cartoon, np.clip((result.outputs[0] + 1) * 127.5, 0, 255).astype(np.uint8))


def test_generator_runs_through_the_compiled_predict_function(make_predictor, astronaut):
    predictor = make_predictor(segmenter=None)
    predictor.run(astronaut)
    assert predictor.generator.predict_function is not None  # Keras' traced/jitted predict step


def test_arrays_of_other_layouts_and_bad_arguments(make_predictor, astronaut):
    predictor = make_predictor(segmenter=None)
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    photo, name = predictor.read(gray)
    assert photo.shape == (512, 512, 3) and name == "<array>"
    rgba = np.dstack([astronaut, np.full((512, 512), 255, np.uint8)])
    np.testing.assert_array_equal(predictor.read(rgba)[0], astronaut)
    with pytest.raises(ValueError, match="uint8"):
        predictor.read(astronaut.astype(np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        make_predictor(batch_size=0)
    # Detection settings are checked when the predictor is made, not as a skip reason on every photo.
    for options, message in [({"min_confidence": 2}, "min_confidence"), ({"detect_size": 8}, "at least 32")]:
        with pytest.raises(ValueError, match=message):
            make_predictor(segmenter=None, **options)
    detection = make_predictor(segmenter=None, detect_size=None, min_confidence=0.95).detection
    assert (detection.max_side, detection.min_confidence, detection.landmarks) == (None, 0.95, "mtcnn5")


def test_import_keras_p2c_is_cheap_and_exports_the_predictor():
    code = (
        "import sys, keras_p2c\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'cv2', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert keras_p2c.Photo2Cartoon.__name__ == 'Photo2Cartoon'\n"
        "assert 'Photo2Cartoon' in dir(keras_p2c)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
