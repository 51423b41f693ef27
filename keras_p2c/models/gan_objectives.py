"""The two objectives of the reference's step, written once for both backends' steps.

`run(name, inputs, training=False)` calls one of the GAN's networks by name (`keras_p2c.models.names`):
the TensorFlow step passes the stateful networks, the JAX step a stateless caller that threads their
variable values. The terms themselves are `keras_p2c.losses.Photo2CartoonLosses`.
"""

from keras import ops

from keras_p2c.losses import DISCRIMINATORS as SCORE_KEYS
from keras_p2c.models.names import FACE_FEATURES

# Loss-table key of each discriminator → its network; "GA" judges domain A globally.
SCORER = {key: "dis" + key for key in SCORE_KEYS}


def unpack_batch(data):
    """`(real_A, real_B)` from a batch (`(A, B)` from a dataset, `(A, B, None)` from `train_on_batch(A, B)`)."""
    if isinstance(data, dict) and set(data) >= {"A", "B"}:
        return data["A"], data["B"]
    if isinstance(data, (list, tuple)) and len(data) in (2, 3) and (len(data) == 2 or data[2] is None):
        if data[1] is not None:
            return data[0], data[1]
    raise ValueError(
        "Photo2CartoonGAN trains on batches of `(real_A, real_B)` (photos, cartoons), e.g. from "
        "keras_p2c.data.train_dataset or `train_on_batch(real_A, real_B)`. "
        f"Received: {type(data).__name__} of length {len(data) if hasattr(data, '__len__') else '?'}."
    )


def scores(run, images, training):
    """`{key: (logits, cam_logit)}` of each discriminator on `images[its domain]`."""
    result = {}
    for key in SCORE_KEYS:
        logits, cam_logit, _ = run(SCORER[key], images[key[-1]], training=training)
        result[key] = (logits, cam_logit)
    return result


def discriminator_terms(losses, run, real_A, real_B, fake_A2B, fake_B2A, training):
    """Every discriminator-update term (`d_loss` and its parts)."""
    # Real first, then fake, as the reference calls each discriminator (each call advances u, v).
    real_scores = scores(run, {"A": real_A, "B": real_B}, training)
    fake_scores = scores(run, {"A": fake_B2A, "B": fake_A2B}, training)
    return losses.discriminator_terms(real_scores, fake_scores)


def generator_terms(losses, run, real_A, real_B, training, face_id, translations=None):
    """Every generator-update term (`g_loss` and its parts).

    Args:
        face_id: whether to run the Face-ID embedder and include its terms.
        translations: `(genA2B(real_A), genB2A(real_B))` when already computed.
    """
    if translations is None:
        translations = (run("genA2B", real_A), run("genB2A", real_B))
    (fake_A2B, cam_A2B, _), (fake_B2A, cam_B2A, _) = translations
    fake_A2B2A = run("genB2A", fake_A2B)[0]
    fake_B2A2B = run("genA2B", fake_B2A)[0]
    fake_A2A, cam_A2A, _ = run("genB2A", real_A)
    fake_B2B, cam_B2B, _ = run("genA2B", real_B)
    fake_scores = scores(run, {"A": fake_B2A, "B": fake_A2B}, training)
    embeddings = None
    if face_id:
        # The real images' embeddings are targets; no gradient needs to reach them.
        embeddings = {
            "A": (ops.stop_gradient(run(FACE_FEATURES, real_A)), run(FACE_FEATURES, fake_A2B)),
            "B": (ops.stop_gradient(run(FACE_FEATURES, real_B)), run(FACE_FEATURES, fake_B2A)),
        }
    return losses.generator_terms(
        real={"A": real_A, "B": real_B},
        cycled={"A": fake_A2B2A, "B": fake_B2A2B},
        identity={"A": fake_A2A, "B": fake_B2B},
        translated_cam={"A": cam_B2A, "B": cam_A2B},
        identity_cam={"A": cam_A2A, "B": cam_B2B},
        fake_scores=fake_scores,
        embeddings=embeddings,
    )
