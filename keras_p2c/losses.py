"""The Photo2Cartoon loss table: every term of the reference's training step, from the networks' outputs.

Pure functions of tensors (`keras.ops` only, float32 whatever the dtype policy), so the TensorFlow step
(`GradientTape`) and the stateless JAX step share them. The reference's step (spec section c):

| term | discriminator step | generator step |
|---|---|---|
| adversarial, patch logits | MSE(D(real), 1) + MSE(D(fake), 0) | MSE(D(fake), 1) |
| adversarial, CAM logits | the same on D's `cam_logit` | the same on D's `cam_logit` |
| cycle | | L1(G_B2A(G_A2B(A)), A) |
| identity | | L1(G_B2A(A), A) |
| CAM | | BCE(cam of G_B2A(B), 1) + BCE(cam of G_B2A(A), 0) |
| Face-ID | | 1 − cos(F(A), F(G_A2B(A))), batch mean |

for the four discriminators `GA`, `LA` (domain A, global and local) and `GB`, `LB`, and both directions.
The totals are `adv · Σ adversarial` for D and `adv · Σ adversarial + cycle · L1 + identity · L1 + cam · BCE
+ face_id · Face-ID` for each generator direction, as the reference's `Discriminator_loss` / `Generator_loss`.

    losses = Photo2CartoonLosses(LossWeights())
    d_terms = losses.discriminator_terms(real_scores, fake_scores)     # {"d_loss": ..., "d_adv_GA": ...}
"""

import dataclasses

from keras import ops

# The four discriminators: global (7 layers) and local (5) for each domain.
DISCRIMINATORS = ("GA", "LA", "GB", "LB")
DOMAINS = ("A", "B")


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (the reference's `--adv_weight` and friends).

    Args:
        adv: least-squares adversarial terms, both steps (1).
        cycle: cycle-consistency L1 (50 in Photo2Cartoon; U-GAT-IT uses 10).
        identity: identity L1 (10).
        cam: the generators' CAM classification BCE (1000).
        face_id: Face-ID, 1 − cosine similarity of MobileFaceNet embeddings (1). 0 turns the term off
            (and the embedder is then not run).
    """

    adv: float = 1.0
    cycle: float = 50.0
    identity: float = 10.0
    cam: float = 1000.0
    face_id: float = 1.0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"Loss weight `{field.name}` must be a non-negative number. Received: {value!r}")


def least_squares(logits, target):
    """LSGAN term: mean of (logits − target)² over every element (torch `MSELoss` against a constant).

    Args:
        logits: any shape.
        target: 1.0 (real) or 0.0 (fake).
    """
    logits = ops.cast(logits, "float32")
    return ops.mean(ops.square(logits - target))


def mean_absolute_error(first, second):
    """Mean |first − second| over every element (torch `L1Loss`), in float32."""
    return ops.mean(ops.abs(ops.cast(first, "float32") - ops.cast(second, "float32")))


def binary_cross_entropy_with_logits(logits, target):
    """Mean BCE of logits against a constant target (torch `BCEWithLogitsLoss`), in the stable form.

    max(x, 0) − x·t + log(1 + exp(−|x|)): no overflow for large |x| (the CAM weight is 1000, so
    the logits grow large).
    """
    logits = ops.cast(logits, "float32")
    return ops.mean(ops.relu(logits) - logits * target + ops.log1p(ops.exp(-ops.abs(logits))))


def _adversarial(scores, target):
    """The two LSGAN terms of one discriminator's `(logits, cam_logit)`."""
    logits, cam_logit = scores
    return least_squares(logits, target), least_squares(cam_logit, target)


class Photo2CartoonLosses:
    """The reference's loss terms by name, and the weighted totals of both steps.

    Scores are the discriminators' `(logits, cam_logit)` pairs in dicts keyed `GA`, `LA`, `GB`, `LB`
    (discriminator `GA` judges domain A, so it scores real A images and B→A translations). Every term
    is a float32 scalar; the returned dicts hold the unweighted terms and the weighted total.

    Args:
        weights: a `LossWeights`.
    """

    def __init__(self, weights=None):
        weights = LossWeights() if weights is None else weights
        if not isinstance(weights, LossWeights):
            raise TypeError(f"`weights` must be a keras_p2c.losses.LossWeights. Received: {weights!r}")
        self.weights = weights

    @property
    def uses_face_id(self):
        return self.weights.face_id > 0

    @staticmethod
    def discriminator_term_names():
        names = []
        for key in DISCRIMINATORS:
            names += [f"d_adv_{key}", f"d_adv_cam_{key}"]
        return names

    @staticmethod
    def generator_term_names(face_id=True):
        names = []
        for key in DISCRIMINATORS:
            names += [f"g_adv_{key}", f"g_adv_cam_{key}"]
        for domain in DOMAINS:
            names += [f"g_cycle_{domain}", f"g_identity_{domain}", f"g_cam_{domain}"]
            if face_id:
                names.append(f"g_face_id_{domain}")
        return names

    def discriminator_terms(self, real_scores, fake_scores):
        """Discriminator step: each D's real-vs-fake LSGAN terms and `d_loss`.

        Args:
            real_scores: `{key: (logits, cam_logit)}` of the real images of each D's domain.
            fake_scores: the same for the translations into that domain.

        Returns:
            `{"d_adv_GA": MSE(real, 1) + MSE(fake, 0) on the patch logits, "d_adv_cam_GA": the same on
            the CAM logits, ..., "d_loss": adv · their sum}`.
        """
        terms = {}
        for key in DISCRIMINATORS:
            real, real_cam = _adversarial(real_scores[key], 1.0)
            fake, fake_cam = _adversarial(fake_scores[key], 0.0)
            terms[f"d_adv_{key}"] = real + fake
            terms[f"d_adv_cam_{key}"] = real_cam + fake_cam
        terms["d_loss"] = self.weights.adv * ops.sum(ops.stack(list(terms.values())))
        return terms

    def generator_terms(self, real, cycled, identity, translated_cam, identity_cam, fake_scores, embeddings=None):
        """Generator step: every term of both directions and `g_loss`.

        Each argument is a dict by domain `A` / `B` meaning the *source* domain of the images:

        Args:
            real: `{"A": real_A, "B": real_B}`.
            cycled: `{"A": G_B2A(G_A2B(real_A)), "B": G_A2B(G_B2A(real_B))}`.
            identity: `{"A": G_B2A(real_A), "B": G_A2B(real_B)}`.
            translated_cam: the generators' cam_logit when translating *into* the domain:
                `{"A": cam of G_B2A(real_B), "B": cam of G_A2B(real_A)}` (target 1).
            identity_cam: cam_logit of the identity mappings `{"A": cam of G_B2A(real_A), "B": ...}` (target 0).
            fake_scores: `{key: (logits, cam_logit)}` of the translations into each D's domain.
            embeddings: `{"A": (F(real_A), F(G_A2B(real_A))), "B": (F(real_B), F(G_B2A(real_B)))}`, Face-ID
                embeddings; None (or a zero weight) leaves the Face-ID term out.

        Returns:
            `{"g_adv_GA", "g_adv_cam_GA", ..., "g_cycle_A", "g_identity_A", "g_cam_A", "g_face_id_A", ...,
            "g_loss"}`; the Face-ID terms only when `embeddings` is given.

        The reference puts the A-side terms (D_A scores of B→A, the A cycle and identity, the CAM of
        translations into A, the Face-ID of A→B) in `G_loss_A`; only the sum is differentiated, so the
        grouping does not matter for the update.
        """
        w = self.weights
        terms = {}
        adversarial = []
        for key in DISCRIMINATORS:
            fake, fake_cam = _adversarial(fake_scores[key], 1.0)
            terms[f"g_adv_{key}"] = fake
            terms[f"g_adv_cam_{key}"] = fake_cam
            adversarial += [fake, fake_cam]
        weighted = [w.adv * ops.sum(ops.stack(adversarial))]
        for domain in DOMAINS:
            terms[f"g_cycle_{domain}"] = mean_absolute_error(cycled[domain], real[domain])
            terms[f"g_identity_{domain}"] = mean_absolute_error(identity[domain], real[domain])
            terms[f"g_cam_{domain}"] = binary_cross_entropy_with_logits(
                translated_cam[domain], 1.0
            ) + binary_cross_entropy_with_logits(identity_cam[domain], 0.0)
            weighted += [
                w.cycle * terms[f"g_cycle_{domain}"],
                w.identity * terms[f"g_identity_{domain}"],
                w.cam * terms[f"g_cam_{domain}"],
            ]
            if embeddings is not None and self.uses_face_id:
                source, translation = embeddings[domain]
                terms[f"g_face_id_{domain}"] = face_id_loss(source, translation)
                weighted.append(w.face_id * terms[f"g_face_id_{domain}"])
        terms["g_loss"] = ops.sum(ops.stack(weighted))
        return terms


def cosine_similarity(first, second, epsilon=1e-8):
    """Per-row cosine similarity, as `torch.cosine_similarity` (each norm clamped to at least `epsilon`).

    Args:
        first, second: `(batch, features)`; computed in float32.

    Returns:
        `(batch,)` float32.
    """
    first = ops.cast(first, "float32")
    second = ops.cast(second, "float32")

    def unit(x):
        norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
        return x / ops.maximum(norm, epsilon)

    return ops.sum(unit(first) * unit(second), axis=-1)


def face_id_loss(embeddings_a, embeddings_b, epsilon=1e-8):
    """Face-ID loss: batch mean of 1 − cosine similarity of two embedding batches.

    The reference adds one value per sample unreduced, which only works at
    batch 1 (spec quirk g-11); the mean is the same there and defined for any batch.

    Args:
        embeddings_a, embeddings_b: `(batch, features)`, e.g. `FaceFeatures` outputs
            of the real images and of their translations.

    Returns:
        A float32 scalar.
    """
    return ops.mean(1.0 - cosine_similarity(embeddings_a, embeddings_b, epsilon))
