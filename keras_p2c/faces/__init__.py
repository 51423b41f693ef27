"""Face preparation shared by inference, dataset preparation and serving: detect, level, crop, mask, composite.

Typical use::

    from keras_p2c import faces, images

    rgb = images.read_image("photo.jpg")
    prepared = faces.prepare_faces(rgb, segmenter=faces.get_segmenter())  # NoFaceError if none
    batch = np.stack([p.input_256 for p in prepared])                      # (N, 256, 256, 3) in [-1, 1]
    outputs = generator.predict(batch)                                       # in [-1, 1]
    cartoon = prepared[0].composite(outputs[0])                              # reference output, uint8
    whole = faces.paste_all(rgb, prepared, outputs)                          # cartoon faces in the photo

Names are loaded on first use (PEP 562), so importing the package is cheap and
`python -m keras_p2c.faces.mask_model` runs without its module being imported twice; TensorFlow (for
MTCNN) and the TF Lite interpreter load only when a face is detected or a mask computed, dlib (the
optional `landmarks="dlib68"`) only when it is asked for.
"""

from keras_p2c.lazy import lazy_exports

_EXPORTS = {
    "keras_p2c.faces.align": [
        "Rotation",
        "align_image",
        "level_eye_corners",
        "level_eyes",
        "rotate_image",
        "transform_points",
    ],
    "keras_p2c.faces.composite": [
        "cartoon_to_float",
        "composite_cartoon",
        "generator_input",
        "paste_back",
        "resize_to_generator",
    ],
    "keras_p2c.faces.crop": [
        "CropBox",
        "crop_image",
        "face_crop_box",
        "landmark_box",
        "landmarks_crop_box",
        "reference_crop_box",
        "warp_crop",
    ],
    "keras_p2c.faces.detect": ["KEYPOINT_NAMES", "Face", "NoFaceError", "detect_faces", "get_detector"],
    "keras_p2c.faces.detection": ["DetectionOptions"],
    "keras_p2c.faces.landmarks": [
        "LANDMARK_MODELS",
        "LandmarksUnavailableError",
        "detect_faces_dlib68",
        "get_dlib68",
    ],
    "keras_p2c.faces.mask_model": ["MaskModelError", "default_model_path", "fetch_mask_model"],
    "keras_p2c.faces.prepare": [
        "FACE_POLICIES",
        "PreparedFace",
        "SeveralFacesError",
        "paste_all",
        "prepare_face",
        "prepare_faces",
        "select_faces",
    ],
    "keras_p2c.faces.quality": ["MAX_OUTSIDE", "MIN_CROP", "FaceQuality", "face_quality"],
    "keras_p2c.faces.segment": ["PortraitSegmenter", "get_segmenter", "resolve_segmenter"],
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
