"""Photo2CartoonGAN: the six networks and the reference's training step, trained with `model.fit`.

One `fit` step is the reference's iteration (spec section c), in its order:

1. Discriminator step. Both generators translate the batch; their outputs are constants here (the
   reference backpropagates into the generators and throws those gradients away, spec quirk g-12:
   same update, less work). The four discriminators score real and translated images in training
   mode (one spectral-norm power iteration per call), and `d_optimizer` applies the gradient of
   `d_loss`.
2. Generator step, with fresh forwards through the *updated* discriminators (again in training mode):
   translations, cycles, identity mappings, CAM logits and the Face-ID embeddings give `g_loss`, and
   `g_optimizer` applies its gradient. ρ and w_γ/w_β are clipped to [0, 1] by their `UnitIntervalClip`
   constraint right after that update, where the reference runs its clippers.

The loss terms are pure functions in `keras_p2c.losses`, assembled by `gan_objectives`. On TensorFlow the
step (`gan_steps_tensorflow`) uses `GradientTape` and traces each network once; on JAX it is stateless
(`gan_steps_jax`: `train_step(state, data)`, the networks run through `stateless_call`). Both
optimisers live in one `GANOptimizer` (`model.optimizer`), so Keras carries both optimisers' state
through the JAX step, `BackupAndRestore` and `save_weights` / `load_weights`.

    gan = Photo2CartoonGAN(img_size=256, face_features=load_face_features("model_mobilefacenet.pth"))
    load_official_gan(gan, "photo2cartoon_weights.pt")  # optional: start from the release (keras_p2c.weights)
    gan.compile()                                       # reference optimisers and loss weights
    gan.fit(train_dataset(root), steps_per_epoch=1000, epochs=1000)
"""

import keras
from keras import ops

from keras_p2c.losses import LossWeights, Photo2CartoonLosses
from keras_p2c.models import gan_steps_jax, gan_steps_tensorflow
from keras_p2c.models.discriminator import Discriminator, minimum_input_size
from keras_p2c.models.face_id import FaceFeatures
from keras_p2c.models.generator import Generator
from keras_p2c.models.names import DISCRIMINATORS, FACE_FEATURES, GENERATORS
from keras_p2c.optimizers import GANOptimizer, reference_adam

BACKENDS = ("tensorflow", "jax")


@keras.saving.register_keras_serializable(package="keras_p2c")
class Photo2CartoonGAN(keras.Model):
    """Photo2Cartoon (U-GAT-IT with Soft-AdaLIN, hourglasses and Face-ID) as a trainable Keras model.

    Holds `genA2B`, `genB2A` (photo → cartoon and back), the global discriminators `disGA`, `disGB`,
    the local ones `disLA`, `disLB`, and optionally the frozen Face-ID embedder. `fit` runs the
    reference's training step (module docstring); `call` / `predict` translate photos with `genA2B`.

    Metrics (each step's value, averaged over the epoch by `fit`): `d_loss`, `g_loss`; the unweighted
    terms `d_adv_{GA,LA,GB,LB}` (MSE of the patch logits: real → 1 plus fake → 0), `d_adv_cam_*` (the
    same on the discriminators' CAM logits), `g_adv_*`, `g_adv_cam_*` (fakes → 1), `g_cycle_{A,B}`,
    `g_identity_{A,B}` (L1), `g_cam_{A,B}` (BCE of the generators' CAM logits) and, with Face-ID,
    `g_face_id_{A,B}`. Domain A terms are the reference's `*_A` terms (`g_cycle_A`: A → B → A).

    Args:
        img_size: side of the square training images (multiple of 16; at least the global
            discriminator's minimum, 96 px at 7 layers).
        ngf: generator base width (32).
        ndf: discriminator base width (32).
        n_blocks: residual blocks in each generator's encoder and decoder (4).
        light: light generators (the released model).
        linear_bias: biases on the generators' Dense layers (original release: True; PaddleGAN: False).
        global_layers: depth of `disGA` / `disGB` (7).
        local_layers: depth of `disLA` / `disLB` (5).
        face_features: a built `keras_p2c.models.FaceFeatures` (e.g. from
            `keras_p2c.weights.mobilefacenet_table.load_face_features`) for the Face-ID loss, or None to
            train without it. It is frozen: its weights are never updated.

    Input shape (`call`):
        `(batch, img_size, img_size, 3)` photos in [-1, 1].

    Output shape (`call`):
        genA2B's `(image, cam_logit, heatmap)`.
    """

    def __init__(
        self,
        img_size=256,
        ngf=32,
        ndf=32,
        n_blocks=4,
        light=True,
        linear_bias=True,
        global_layers=7,
        local_layers=5,
        face_features=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if keras.backend.backend() not in BACKENDS:
            raise NotImplementedError(
                f"Photo2CartoonGAN trains on the {' and '.join(BACKENDS)} backends. "
                f"Received: KERAS_BACKEND={keras.backend.backend()}"
            )
        for name, depth in (("global_layers", global_layers), ("local_layers", local_layers)):
            if not isinstance(depth, int) or depth < 3:
                raise ValueError(f"`{name}` must be an integer >= 3. Received: {name}={depth!r}")
            if isinstance(img_size, int) and img_size < minimum_input_size(depth):
                raise ValueError(
                    f"A discriminator of {depth} layers needs images of at least {minimum_input_size(depth)} "
                    f"pixels. Received: img_size={img_size}, {name}={depth}. Use larger images or fewer layers."
                )
        if face_features is not None:
            if not isinstance(face_features, FaceFeatures):
                raise TypeError(
                    "`face_features` must be a keras_p2c.models.FaceFeatures (see "
                    "keras_p2c.weights.mobilefacenet_table.load_face_features) or None. "
                    f"Received: {type(face_features).__name__}"
                )
            # The reference keeps MobileFaceNet out of every optimiser.
            face_features.trainable = False
        self.img_size = img_size
        self.ngf = ngf
        self.ndf = ndf
        self.n_blocks = n_blocks
        self.light = light
        self.linear_bias = linear_bias
        self.global_layers = global_layers
        self.local_layers = local_layers
        policy = self.dtype_policy
        generator_options = dict(ngf=ngf, img_size=img_size, n_blocks=n_blocks, light=light, linear_bias=linear_bias)
        self.genA2B = Generator(**generator_options, dtype=policy, name="genA2B")
        self.genB2A = Generator(**generator_options, dtype=policy, name="genB2A")
        self.disGA = Discriminator(ndf=ndf, n_layers=global_layers, dtype=policy, name="disGA")
        self.disGB = Discriminator(ndf=ndf, n_layers=global_layers, dtype=policy, name="disGB")
        self.disLA = Discriminator(ndf=ndf, n_layers=local_layers, dtype=policy, name="disLA")
        self.disLB = Discriminator(ndf=ndf, n_layers=local_layers, dtype=policy, name="disLB")
        self.face_features = face_features

        # One tracker per term, made here so `fit` resets them through `metrics`; `compile` picks the
        # active ones (the Face-ID pair only when it is computed).
        names = ["d_loss", "g_loss"]
        names += Photo2CartoonLosses.discriminator_term_names()
        names += Photo2CartoonLosses.generator_term_names(face_id=True)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.gan_losses = Photo2CartoonLosses(LossWeights())
        self._layout = None
        self._network_functions = None
        self._jax_functions = {}  # gan_steps_jax: jitted networks and optimiser updates
        self.traced_networks = True
        self.build((None, img_size, img_size, 3))

    # --- structure -------------------------------------------------------------------------------

    def build(self, input_shape):
        image_shape = (None, self.img_size, self.img_size, 3)
        for name in GENERATORS:
            getattr(self, name).build(image_shape)
        for name in DISCRIMINATORS:
            getattr(self, name).build((None, None, None, 3))
        if self.face_features is not None and not self.face_features.built:
            self.face_features.build(image_shape)
        self.built = True

    @property
    def networks(self):
        """The six networks by reference name (`genA2B`, ..., `disLB`)."""
        return {name: getattr(self, name) for name in GENERATORS + DISCRIMINATORS}

    @property
    def generator_variables(self):
        """Trainable variables of genA2B then genB2A (what `g_optimizer` updates)."""
        return [v for name in GENERATORS for v in getattr(self, name).trainable_variables]

    @property
    def discriminator_variables(self):
        """Trainable variables of disGA, disGB, disLA, disLB (what `d_optimizer` updates)."""
        return [v for name in DISCRIMINATORS for v in getattr(self, name).trainable_variables]

    @property
    def g_optimizer(self):
        return self.optimizer.g_optimizer if isinstance(getattr(self, "optimizer", None), GANOptimizer) else None

    @property
    def d_optimizer(self):
        return self.optimizer.d_optimizer if isinstance(getattr(self, "optimizer", None), GANOptimizer) else None

    @property
    def uses_face_id(self):
        return self.face_features is not None and self.gan_losses.uses_face_id

    @property
    def metrics(self):
        return [tracker for name, tracker in self.trackers.items() if self._metric_is_active(name)]

    def _metric_is_active(self, name):
        return not name.startswith("g_face_id") or self.uses_face_id

    def call(self, inputs, training=None):
        return self.genA2B(inputs)

    # --- compile ---------------------------------------------------------------------------------

    def compile(self, g_optimizer=None, d_optimizer=None, loss_weights=None, auto_scale_loss=True, **kwargs):
        """Sets the two optimisers and the loss weights.

        Args:
            g_optimizer: optimiser of both generators; None gives the reference's `ReferenceAdam(1e-4)`
                (betas 0.5, 0.999, eps 1e-8, coupled L2 1e-4). Pass a `ReferenceAdam` with a
                `LinearDecayAfter` schedule for the reference's decay.
            d_optimizer: optimiser of the four discriminators (a separate instance); None as above.
            loss_weights: a `keras_p2c.losses.LossWeights` (None: the reference's 1/50/10/1000/1).
            auto_scale_loss: under the `mixed_float16` policy, wrap each optimiser in a
                `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling against float16 gradient
                underflow), as Keras' own `compile` does. Optimisers already wrapped are kept as given.
                `mixed_bfloat16` needs no loss scaling.
            **kwargs: `keras.Model.compile` options of the step: `run_eagerly`, `jit_compile`,
                `steps_per_execution`. (`optimizer`, `loss` and `metrics` do not apply.)
        """
        for key in ("optimizer", "loss", "metrics", "weighted_metrics"):
            if kwargs.get(key) is not None:
                raise ValueError(
                    f"Photo2CartoonGAN.compile takes g_optimizer, d_optimizer and loss_weights, not `{key}`: the "
                    "losses and metrics are the reference's (see keras_p2c.losses)."
                )
            kwargs.pop(key, None)
        if loss_weights is None:
            loss_weights = LossWeights()
        if not isinstance(loss_weights, LossWeights):
            raise TypeError(f"`loss_weights` must be a keras_p2c.losses.LossWeights. Received: {loss_weights!r}")
        g_optimizer = reference_adam(name="g_optimizer") if g_optimizer is None else keras.optimizers.get(g_optimizer)
        d_optimizer = reference_adam(name="d_optimizer") if d_optimizer is None else keras.optimizers.get(d_optimizer)
        if auto_scale_loss and self.dtype_policy.name == "mixed_float16":
            scaled = keras.optimizers.LossScaleOptimizer
            g_optimizer = g_optimizer if isinstance(g_optimizer, scaled) else scaled(g_optimizer)
            d_optimizer = d_optimizer if isinstance(d_optimizer, scaled) else scaled(d_optimizer)
        optimizer = GANOptimizer(g_optimizer, d_optimizer)
        # auto_scale_loss=False: Keras would wrap the holder; the two real optimisers are wrapped above.
        super().compile(optimizer=optimizer, auto_scale_loss=False, **kwargs)
        self.gan_losses = Photo2CartoonLosses(loss_weights)
        # Build both optimisers now (the networks are built): `load_weights` right after `compile`
        # then restores their moments instead of skipping unbuilt optimisers.
        optimizer.build_groups(self.generator_variables, self.discriminator_variables)
        self._layout = None
        # Eager steps stay eager throughout (debuggable); compiled ones trace each network once.
        self.traced_networks = not self.run_eagerly
        self._network_functions = None
        self._jax_functions = {}  # gan_steps_jax: jitted networks and optimiser updates

    # --- what the steps share (keras_p2c.models.gan_steps_tensorflow / gan_steps_jax) --------------

    def _check_compiled(self):
        if not isinstance(getattr(self, "optimizer", None), GANOptimizer):
            raise ValueError("Call `Photo2CartoonGAN.compile()` before training or evaluating it.")

    def network_names(self):
        """The networks the steps run: the six, and the Face-ID embedder when there is one."""
        return GENERATORS + DISCRIMINATORS + ((FACE_FEATURES,) if self.face_features is not None else ())

    def logs(self):
        """Each active metric's current value, by name."""
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def track(self, terms):
        """Adds one step's terms to the metrics."""
        for name, value in terms.items():
            if self._metric_is_active(name):
                self.trackers[name].update_state(value)

    # --- Keras entry points ----------------------------------------------------------------------

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a tf.distribute strategy Keras (3.15) first averages one batch over the replicas with a
        # single `strategy.reduce` of the whole (photos, cartoons) structure, which
        # MultiWorkerMirroredStrategy refuses (it reduces one tensor at a time). The GAN's shapes do not
        # depend on a batch: build the networks and both optimisers directly, in the strategy's scope.
        if getattr(self, "_distribute_strategy", None) is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        with self.distribute_strategy.scope():
            if not self.built:
                self.build(None)
            if not self.optimizer.built:
                self.optimizer.build(self.trainable_variables)

    def train_step(self, *args):
        """One reference iteration: `train_step(data)` on TensorFlow, `train_step(state, data)` on JAX."""
        self._check_compiled()
        if keras.backend.backend() == "jax":
            return gan_steps_jax.train_step(self, *args)
        return gan_steps_tensorflow.train_step(self, *args)

    def make_train_function(self, force=False):
        super().make_train_function(force)
        if keras.backend.backend() == "tensorflow" and not self.run_eagerly:
            self.train_function = gan_steps_tensorflow.without_graph_optimizer(self.train_function)
        return self.train_function

    def make_test_function(self, force=False):
        super().make_test_function(force)
        if keras.backend.backend() == "tensorflow" and not self.run_eagerly:
            self.test_function = gan_steps_tensorflow.without_graph_optimizer(self.test_function)
        return self.test_function

    def test_step(self, *args):
        """Every loss term on a validation batch, no update, discriminators in inference mode."""
        self._check_compiled()
        if keras.backend.backend() == "jax":
            return gan_steps_jax.test_step(self, *args)
        return gan_steps_tensorflow.test_step(self, *args)

    def predict_step(self, *args):
        """genA2B on a batch of photos. On JAX, unless eager, through the program the training step compiled for
        genA2B: under `jit_compile=False` (the training config's) Keras would otherwise run it op by op."""
        if keras.backend.backend() == "jax" and self.traced_networks:
            return gan_steps_jax.predict_step(self, *args)
        return super().predict_step(*args)

    # --- looking at translations ---------------------------------------------------------------

    def translate(self, real_A, real_B=None):
        """Translations and CAM heatmaps for looking at (TensorBoard images), with inference-mode networks.

        Args:
            real_A: photos `(batch, h, w, 3)` in [-1, 1].
            real_B: optional cartoons, for the B side.

        Returns:
            A dict of `(batch, h, w, c)` float32 tensors: images in [-1, 1] (`real_A`, `A2B`, `A2B2A`,
            `A2A`, and with `real_B` also `real_B`, `B2A`, `B2A2B`, `B2B`), and heatmaps in [0, 1], one
            channel, resized to the image size and min-max normalised per image (`heatmap_A2B` is the
            genA2B heatmap of real_A; also `heatmap_A2B2A`, `heatmap_A2A` and the B side), as the
            reference's sample grids show them before their colour map.
        """
        # Through the networks' functions of the step (one traced or jitted generator for both twins, on
        # JAX the very programs the step compiled), in inference mode; plain calls when run eagerly.
        networks = self._inference_networks()

        def run(name, images):
            image, _, heatmap = networks(name, images)
            return ops.cast(image, "float32"), heatmap

        outputs = {}
        sides = [("A", real_A, "genA2B", "genB2A")]
        if real_B is not None:
            sides.append(("B", real_B, "genB2A", "genA2B"))
        for source, real, forward, backward in sides:
            target = "B" if source == "A" else "A"
            real = ops.convert_to_tensor(real, "float32")
            translated, heatmap = run(forward, real)
            cycled, cycled_heatmap = run(backward, translated)
            same, same_heatmap = run(backward, real)
            size = tuple(real.shape[1:3])
            outputs[f"real_{source}"] = real
            outputs[f"{source}2{target}"] = translated
            outputs[f"{source}2{target}2{source}"] = cycled
            outputs[f"{source}2{source}"] = same
            outputs[f"heatmap_{source}2{target}"] = _heatmap_image(heatmap, size)
            outputs[f"heatmap_{source}2{target}2{source}"] = _heatmap_image(cycled_heatmap, size)
            outputs[f"heatmap_{source}2{source}"] = _heatmap_image(same_heatmap, size)
        return outputs

    def _inference_networks(self):
        """`run(name, inputs)`: a network in inference mode, through the backend step's network functions."""
        steps = gan_steps_jax if keras.backend.backend() == "jax" else gan_steps_tensorflow
        return steps.inference_networks(self)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "img_size": self.img_size,
            "ngf": self.ngf,
            "ndf": self.ndf,
            "n_blocks": self.n_blocks,
            "light": self.light,
            "linear_bias": self.linear_bias,
            "global_layers": self.global_layers,
            "local_layers": self.local_layers,
            "face_features": None
            if self.face_features is None
            else keras.saving.serialize_keras_object(self.face_features),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if config.get("face_features") is not None:
            config["face_features"] = keras.saving.deserialize_keras_object(
                config["face_features"], custom_objects=custom_objects
            )
        return cls(**config)


def _heatmap_image(heatmap, size):
    """A heatmap resized (bilinear) to `size` and min-max normalised per image into [0, 1]."""
    heatmap = ops.image.resize(ops.cast(heatmap, "float32"), size, interpolation="bilinear")
    low = ops.min(heatmap, axis=(1, 2, 3), keepdims=True)
    high = ops.max(heatmap, axis=(1, 2, 3), keepdims=True)
    return (heatmap - low) / ops.maximum(high - low, 1e-12)
