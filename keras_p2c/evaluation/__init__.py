"""Is this training any good? FID and KID against real cartoons, identity similarity against the photos.

Typical use::

    from keras_p2c import evaluation

    report = evaluation.evaluate("out/", "dataset/testB", photos_dir="out/",
                                 face_id_weights="model_mobilefacenet.pth", output_dir="eval/")
    report["fid"], report["kid"]["mean"], report["identity_similarity"]["mean"]

Modules: `statistics` (the FID / KID formulas, NumPy only), `features` (InceptionV3 pool features),
`identity` (Face-ID embedding cosine), `report` (`evaluate`: folders in, `report.json` and `pairs.png` out).
Names are loaded on first use (PEP 562), so the formulas import without Keras.
"""

from keras_p2c.lazy import lazy_exports

_EXPORTS = {
    "keras_p2c.evaluation.statistics": [
        "KernelInceptionDistance",
        "feature_statistics",
        "fid",
        "frechet_distance",
        "kid",
        "mmd2_unbiased",
        "polynomial_kernel",
    ],
    "keras_p2c.evaluation.features": [
        "INCEPTION_WEIGHTS_FILENAME",
        "INCEPTION_WEIGHTS_URL",
        "InceptionFeatures",
        "InceptionWeightsError",
        "inception_weights_path",
    ],
    "keras_p2c.evaluation.identity": ["IdentityScores", "identity_similarity", "load_face_id", "to_generator_space"],
    "keras_p2c.evaluation.report": [
        "EvaluationError",
        "Pair",
        "default_kid_subset_size",
        "evaluate",
        "list_images",
        "pair_files",
        "pairs_sheet",
        "tagged_key",
    ],
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
