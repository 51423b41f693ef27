"""How far MTCNN's 5-point crop is from the reference's exact crop on dlib's 68 landmarks, on real photos.

    p2c benchmark --what landmarks          # or: python scripts/benchmark.py --what landmarks

Photos (all offline, from scikit-image): the astronaut and variants of her photo (turned by 10 to 45
degrees either way on a grown canvas, scaled 0.5 to 2, mirrored, cut so the face is near the top left
corner, JPEG quality 30,
grey), the astronaut beside her mirror image (two faces), the cameraman, and the 100 faces of
the LFW subset (100 people; 25 x 25 pixel crops enlarged 8 times with bicubic filtering onto a grey
canvas, so low resolution).

For each face MTCNN finds, the crop of `landmarks="mtcnn5"` is compared with that of `"dlib68"`
(the reference's geometry on dlib's 68 points), which serves as the reference:

- `corner_px`, `centre_px`: mean distance of the 5-point crop's corners, and of its centre, from the
  reference crop's, in pixels of the reference crop as the generator sees it (256 x 256);
- `iou`: intersection over union of the two crop squares in the photo;
- `scale`: side of the 5-point crop / side of the reference crop;
- `angle_deg`: the 5-point eye-levelling rotation minus the reference's (outer eye corners).

`seed` compares the two ways to find the faces for dlib68: MTCNN (what `--landmarks dlib68` does)
and the reference's own detector (dlib's HOG detector): faces each finds, HOG detections that are no
face MTCNN found, photos where the reference's largest-landmark-box rule picks such a detection, and,
for faces both found, how far the 68 points are apart (mean over the points, per outer-eye
distance) and the crops by the measures above.
"""

import collections
import math

import cv2
import numpy as np

from keras_p2c.faces.align import rotation_for, transform_points
from keras_p2c.faces.composite import GENERATOR_SIZE
from keras_p2c.faces.crop import crop_to_image_matrix, image_to_crop_matrix
from keras_p2c.faces.detect import detect_faces
from keras_p2c.faces.landmarks import detect_faces_dlib68
from keras_p2c.faces.prepare import prepare_face

METRICS = ("corner_px", "centre_px", "iou", "scale", "angle_deg")
LFW_FACES = 100  # the subset's first 100 images are faces, the other 100 are not
LFW_ENLARGE = 8
LFW_BORDER = 150


def _turned(rgb, degrees):
    """The photo turned about its centre by `degrees` onto a grown canvas, white outside."""
    rotation = rotation_for(rgb.shape, math.radians(degrees))
    return cv2.warpAffine(rgb, rotation.matrix, rotation.size, borderValue=(255, 255, 255))


def _jpeg(rgb, quality):
    ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]


def photos():
    """`{group: {name: rgb}}`: the real photos and variants described above."""
    from skimage import data  # test extra: only this benchmark needs it

    astronaut = data.astronaut()
    variants = {"original": astronaut, "mirrored": np.ascontiguousarray(astronaut[:, ::-1])}
    for degrees in (-45, -30, -20, -10, 10, 20, 30, 45):
        variants[f"turned_{degrees:+d}"] = _turned(astronaut, degrees)
    for scale in (0.5, 0.75, 1.5, 2.0):
        filter_ = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        variants[f"scaled_{scale}"] = cv2.resize(astronaut, None, fx=scale, fy=scale, interpolation=filter_)
    variants["near_the_corner"] = np.ascontiguousarray(astronaut[60:, 150:])  # crops reach outside the photo
    variants["jpeg_q30"] = _jpeg(astronaut, 30)
    variants["grey"] = np.repeat(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    lfw = np.load(data.__path__[0] + "/lfw_subset.npy")[:LFW_FACES]
    faces = {}
    for index, face in enumerate(lfw):
        grey = cv2.resize(np.round(face * 255).astype(np.uint8), None, fx=LFW_ENLARGE, fy=LFW_ENLARGE,
                          interpolation=cv2.INTER_CUBIC)  # fmt: skip
        grey = cv2.copyMakeBorder(grey, *[LFW_BORDER] * 4, cv2.BORDER_CONSTANT, value=128)
        faces[f"lfw_{index:03d}"] = np.repeat(grey[:, :, None], 3, axis=2)
    others = {
        "astronaut_and_mirror": np.hstack([astronaut, astronaut[:, ::-1]]),
        "cameraman": np.repeat(data.camera()[:, :, None], 3, axis=2),
    }
    return {"astronaut_variants": variants, "lfw_faces": faces, "other_photos": others}


def crop_square(prepared):
    """`(4, 2)` corners of a face's crop (pixel edges, clockwise from top left) in photo pixels."""
    last = prepared.crop_box.side - 0.5
    edges = np.array([[-0.5, -0.5], [last, -0.5], [last, last], [-0.5, last]])
    return transform_points(crop_to_image_matrix(prepared.matrix, prepared.crop_box), edges)


def _rotation_degrees(matrix):
    return math.degrees(math.atan2(matrix[0, 1], matrix[0, 0]))


def compare_crops(ours, reference):
    """The measures above for two `PreparedFace`s of one face (`reference`: the 68-point one)."""
    ours_square, reference_square = crop_square(ours), crop_square(reference)
    to_reference = image_to_crop_matrix(reference.matrix, reference.crop_box)
    # Pixel edges of the reference crop run from -0.5 to side - 0.5: shift to 0..side, then to 0..256.
    in_reference = (transform_points(to_reference, ours_square) + 0.5) * (GENERATOR_SIZE / reference.crop_box.side)
    target = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64) * GENERATOR_SIZE
    overlap, _ = cv2.intersectConvexConvex(ours_square.astype(np.float32), reference_square.astype(np.float32))
    union = cv2.contourArea(ours_square.astype(np.float32)) + cv2.contourArea(reference_square.astype(np.float32))
    angle = _rotation_degrees(ours.matrix) - _rotation_degrees(reference.matrix)
    return {
        "corner_px": float(np.linalg.norm(in_reference - target, axis=1).mean()),
        "centre_px": float(np.linalg.norm(in_reference.mean(axis=0) - GENERATOR_SIZE / 2)),
        "iou": float(overlap / (union - overlap)),
        "scale": ours.crop_box.side / reference.crop_box.side,
        "angle_deg": (angle + 180.0) % 360.0 - 180.0,
    }


def _landmark_distance(points, reference):
    outer_eyes = np.linalg.norm(reference[45] - reference[36])
    return float(np.linalg.norm(points - reference, axis=1).mean() / outer_eyes)


def _same_face(one, other):
    """Two dlib68 faces are one when their landmark centres are within a tenth of the landmark box."""
    size = np.ptp(other.landmarks, axis=0).max()
    return np.linalg.norm(one.landmarks.mean(axis=0) - other.landmarks.mean(axis=0)) < 0.1 * size


def measure_photo(rgb):
    """`(faces, seed)` for one photo: the crop comparison per MTCNN face, and the detector comparison."""
    five = detect_faces(rgb)
    by_box = {tuple(face.box): face for face in detect_faces_dlib68(rgb)}  # dlib68 keeps MTCNN's boxes
    hog = detect_faces_dlib68(rgb, detector="hog")
    faces, seeds = [], []
    for face in five:
        dlib68 = by_box[tuple(face.box)]
        reference = prepare_face(rgb, dlib68)
        record = {"box": [round(float(v), 1) for v in face.box], **compare_crops(prepare_face(rgb, face), reference)}
        faces.append(record)
        matches = [other for other in hog if _same_face(other, dlib68)]
        if matches:
            seeds.append(
                {
                    "landmarks_per_eye_distance": _landmark_distance(dlib68.landmarks, matches[0].landmarks),
                    **compare_crops(reference, prepare_face(rgb, matches[0])),
                }
            )
    found = [by_box[tuple(face.box)] for face in five]
    not_faces = [other for other in hog if not any(_same_face(other, face) for face in found)]
    seed = {
        "faces_mtcnn": len(five),
        "faces_hog": len(hog) - len(not_faces),
        "hog_not_a_face": len(not_faces),
        "hog_largest_not_a_face": bool(hog) and any(hog[0] is other for other in not_faces),
        "pairs": seeds,
    }
    return faces, seed


def summarise(values):
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return {"n": 0}
    return {
        "n": int(len(values)),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "p90": float(np.percentile(values, 90)),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def run(**_unused):
    groups = photos()
    result = {"figure": "landmark_crops", "metrics": list(METRICS), "groups": {}, "photos": {}}
    everything = {"faces": [], "pairs": []}
    for group, members in groups.items():
        faces, pairs, detection = [], [], collections.Counter(photos=len(members))
        for name, rgb in members.items():
            photo_faces, seed = measure_photo(rgb)
            faces += photo_faces
            pairs += seed["pairs"]
            detection.update({key: int(value) for key, value in seed.items() if key != "pairs"})
            result["photos"][f"{group}/{name}"] = {"faces": photo_faces, "seed": seed}
        result["groups"][group] = _group_summary(faces, pairs, detection)
        everything["faces"] += faces
        everything["pairs"] += pairs
    result["all"] = _group_summary(everything["faces"], everything["pairs"], None)
    return result


def _group_summary(faces, pairs, detection):
    summary = {"mtcnn5_vs_dlib68": {metric: summarise([face[metric] for face in faces]) for metric in METRICS}}
    seed_metrics = ("landmarks_per_eye_distance",) + METRICS
    summary["dlib68_mtcnn_vs_hog_seed"] = {m: summarise([pair[m] for pair in pairs]) for m in seed_metrics}
    if detection is not None:
        summary["detection"] = dict(detection)
    return summary
