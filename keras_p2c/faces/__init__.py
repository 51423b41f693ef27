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
MTCNN) and the TF Lite interpreter load only when a face is detected or a mask computed.
"""

from keras_p2c.lazy import lazy_exports

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
