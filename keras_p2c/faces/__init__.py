"""Face preparation shared by inference and dataset tools: read, detect, level, crop, mask, composite.

Typical use::

    from keras_p2c import faces

    rgb = faces.read_image("photo.jpg")
    prepared = faces.prepare_faces(rgb, segmenter=faces.get_segmenter())  # NoFaceError if none
    batch = np.stack([p.input_256 for p in prepared])                      # (N, 256, 256, 3) in [-1, 1]
    outputs = generator.predict(batch)                                       # in [-1, 1]
    cartoon = prepared[0].composite(outputs[0])                              # reference output, uint8
    whole = faces.paste_all(rgb, prepared, outputs)                          # cartoon faces in the photo

Names are loaded on first use (PEP 562), so importing the package is cheap and
`python -m keras_p2c.faces.mask_model` runs without its module being imported twice; TensorFlow (for
MTCNN) and the TF Lite interpreter load only when a face is detected or a mask computed.
"""

import importlib

_EXPORTS = {
    "keras_p2c.faces.align": ["Rotation", "align_image", "level_eyes", "rotate_image", "transform_points"],
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
        "reference_crop_box",
        "warp_crop",
    ],
    "keras_p2c.faces.detect": ["KEYPOINT_NAMES", "Face", "NoFaceError", "detect_faces", "get_detector"],
    "keras_p2c.faces.images": [
        "DEFAULT_MAX_PIXELS",
        "ImageReadError",
        "ImageTooLargeError",
        "read_image",
        "write_bytes_atomic",
        "encode_image",
        "write_image_atomic",
    ],
    "keras_p2c.faces.mask_model": ["MaskModelError", "default_model_path", "fetch_mask_model"],
    "keras_p2c.faces.prepare": ["PreparedFace", "paste_all", "prepare_face", "prepare_faces"],
    "keras_p2c.faces.segment": ["PortraitSegmenter", "get_segmenter"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
