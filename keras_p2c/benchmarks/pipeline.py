"""Photo → cartoon end to end, per stage: decode, detect, align + crop, mask, composite, generator, composite back.

The photo is `skimage.data.astronaut()` enlarged to 1200 x 1200 and padded (mirrored) to 1600 x 1200
(1.9 megapixels, one face), encoded as a JPEG in memory. The generator is the released configuration
(ngf 32, 4 blocks, light) with random weights: the time does not depend on the values. Model loading
and the first (tracing) call are excluded; each stage is timed on every repeat and reported as the
median, and `end_to_end` times `Photo2Cartoon.run` on the JPEG bytes as a user calls it.
"""

import statistics
import time

import cv2
import keras

from keras_p2c.benchmarks.train import POLICIES
from keras_p2c.faces import composite
from keras_p2c.faces.align import level_eyes, transform_points
from keras_p2c.faces.crop import face_crop_box, warp_crop
from keras_p2c.faces.detect import detect_faces
from keras_p2c.images import encode_image, read_image
from keras_p2c.inference import Photo2Cartoon
from keras_p2c.models import Generator

PHOTO_SIZE = (1600, 1200)  # width, height


def test_photo():
    """The benchmark photo as JPEG bytes (about 2 megapixels, one face)."""
    from skimage import data  # test extra: only this benchmark needs it

    width, height = PHOTO_SIZE
    face = cv2.resize(data.astronaut(), (height, height), interpolation=cv2.INTER_CUBIC)
    pad = (width - height) // 2
    photo = cv2.copyMakeBorder(face, 0, 0, pad, width - height - pad, cv2.BORDER_REFLECT_101)
    return encode_image(photo, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 92])


def _stages(predictor, jpeg):
    """One pass through the pipeline; returns `{stage: seconds}`."""
    seconds = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now

    rgb = read_image(jpeg)
    lap("decode")
    face = detect_faces(rgb, max_side=predictor.detection.max_side)[0]
    lap("detect")
    rotation = level_eyes(face.keypoints, rgb.shape)
    box = face_crop_box(transform_points(rotation.matrix, face.keypoints))
    crop = warp_crop(rgb, rotation.matrix, box)
    lap("align_crop")
    mask = predictor.segmenter(crop) if predictor.segmenter is not None else None
    lap("mask")
    face_256, mask_256 = composite.resize_to_generator(crop, mask)
    inputs = composite.generator_input(face_256, mask_256)[None]
    lap("composite_in")
    output = predictor.generate(inputs)[0]
    lap("generator")
    composite.composite_cartoon(output, mask_256)
    lap("composite_out")
    composite.paste_back(rgb, composite.cartoon_to_float(output), mask_256, box, rotation.matrix)
    lap("paste_back")
    return seconds


def run(batch=1, size=256, precision="float32", repeats=10, jit_compile=False, ngf=32, **_unused):
    policy = POLICIES[precision]
    generator = Generator(ngf=ngf, img_size=size, dtype=policy)
    generator.build((None, size, size, 3))
    generator.jit_compile = jit_compile
    predictor = Photo2Cartoon(weights=generator, segmenter="auto", batch_size=max(batch, 1))
    jpeg = test_photo()
    for _ in range(2):  # warm-up: MTCNN and the segmenter load, the predict function is traced
        _stages(predictor, jpeg)
        predictor.run(jpeg)
    passes = [_stages(predictor, jpeg) for _ in range(repeats)]
    stages = {name: statistics.median(p[name] for p in passes) for name in passes[0]}
    totals = [sum(v for k, v in p.items() if k != "paste_back") for p in passes]
    end_to_end = []
    for _ in range(repeats):
        start = time.perf_counter()
        predictor.run(jpeg)
        end_to_end.append(time.perf_counter() - start)
    return {
        "figure": "photo_to_cartoon_pipeline",
        "photo": f"{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG ({PHOTO_SIZE[0] * PHOTO_SIZE[1] / 1e6:.2f} MP), one face",
        "size": size,
        "precision": precision,
        "jit_compile": jit_compile,
        "mask": predictor.segmenter is not None,
        "generator_params": generator.count_params(),
        "stages_median_s": {name: round(value, 5) for name, value in stages.items()},
        "pipeline_median_s": statistics.median(totals),
        "pipeline_min_s": min(totals),
        "end_to_end_run_median_s": statistics.median(end_to_end),
        "end_to_end_run_min_s": min(end_to_end),
        "repeats": repeats,
        "keras_backend": keras.backend.backend(),
        "median_s": statistics.median(end_to_end),
        "all_s": end_to_end,
        "photos_per_s": 1.0 / statistics.median(end_to_end),
    }
