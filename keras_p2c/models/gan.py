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

The loss terms are pure functions in `keras_p2c.losses`. On TensorFlow the step uses `GradientTape`; on
JAX it is stateless (`train_step(state, data)`, the networks run through `stateless_call`). Both
optimisers live in one `GANOptimizer` (`model.optimizer`), so Keras carries both optimisers' state
through the JAX step, `BackupAndRestore` and `save_weights` / `load_weights`.

    gan = Photo2CartoonGAN(img_size=256, face_features=load_face_features("model_mobilefacenet.pth"))
    gan.load_official("photo2cartoon_weights.pt")       # optional: start from the release
    gan.compile()                                       # reference optimisers and loss weights
    gan.fit(train_dataset(root), steps_per_epoch=1000, epochs=1000)
"""

import keras
from keras import ops

from keras_p2c.losses import DISCRIMINATORS as SCORE_KEYS
from keras_p2c.losses import LossWeights, Photo2CartoonLosses
from keras_p2c.models.discriminator import Discriminator, minimum_input_size
from keras_p2c.models.generator import Generator
from keras_p2c.optimizers import GANOptimizer, reference_adam

GENERATORS = ("genA2B", "genB2A")
DISCRIMINATORS = ("disGA", "disGB", "disLA", "disLB")
FACE_FEATURES = "face_features"
# Loss-table key of each discriminator → its attribute; "GA" judges domain A globally.
SCORER = {key: "dis" + key for key in SCORE_KEYS}
BACKENDS = ("tensorflow", "jax")


def _unpack_batch(data):
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


def _distribution_loss_scale():
    """1 / replicas under a TensorFlow distribution strategy (its optimisers sum the replicas' gradients)."""
    if keras.backend.backend() != "tensorflow":
        return 1.0
    import tensorflow as tf

    return 1.0 / tf.distribute.get_strategy().num_replicas_in_sync


class _StatelessNetworks:
    """Calls the GAN's networks by name with explicit variable values (JAX), threading their state.

    `trainable` and `non_trainable` map a network name to its variable values in the order of the
    network's own `trainable_variables` / `non_trainable_variables`; each call stores the network's
    updated non-trainable values (the spectral-norm u, v after a training-mode call).
    """

    def __init__(self, model, trainable, non_trainable):
        self.model = model
        self.trainable = dict(trainable)
        self.non_trainable = dict(non_trainable)

    def __call__(self, name, inputs, training=False):
        network = getattr(self.model, name)
        kwargs = {"training": training} if name in DISCRIMINATORS else {}
        outputs, self.non_trainable[name] = network.stateless_call(
            self.trainable[name], self.non_trainable[name], inputs, **kwargs
        )
        return outputs


class _StateLayout:
    """Where each network's variables sit in the model's flat `trainable_variables` / `non_trainable_variables`."""

    def __init__(self, model, names):
        self.names = names
        self.trainable = self._positions(model.trainable_variables, model, names, "trainable_variables")
        self.non_trainable = self._positions(model.non_trainable_variables, model, names, "non_trainable_variables")

    @staticmethod
    def _positions(flat, model, names, attribute):
        index = {id(v): i for i, v in enumerate(flat)}
        positions = {name: [index[id(v)] for v in getattr(getattr(model, name), attribute)] for name in names}
        covered = sorted(i for p in positions.values() for i in p)
        if covered != list(range(len(flat))):
            raise RuntimeError(
                f"Photo2CartoonGAN.{attribute} holds variables outside its networks {names}; the stateless "
                "step would drop them."
            )
        return positions

    @staticmethod
    def split(values, positions):
        return {name: [values[i] for i in indices] for name, indices in positions.items()}

    @staticmethod
    def join(by_name, positions, size):
        flat = [None] * size
        for name, indices in positions.items():
            for i, value in zip(indices, by_name[name]):
                flat[i] = value
        return flat


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
            from keras_p2c.models.face_id import FaceFeatures

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

    # --- the step, shared part -------------------------------------------------------------------

    def _scores(self, run, images, training):
        """`{key: (logits, cam_logit)}` of each discriminator on `images[its domain]`."""
        scores = {}
        for key in SCORE_KEYS:
            logits, cam_logit, _ = run(SCORER[key], images[key[-1]], training=training)
            scores[key] = (logits, cam_logit)
        return scores

    def _discriminator_terms(self, run, real_A, real_B, fake_A2B, fake_B2A, training):
        # Real first, then fake, as the reference calls each discriminator (each call advances u, v).
        real_scores = self._scores(run, {"A": real_A, "B": real_B}, training)
        fake_scores = self._scores(run, {"A": fake_B2A, "B": fake_A2B}, training)
        return self.gan_losses.discriminator_terms(real_scores, fake_scores)

    def _generator_terms(self, run, real_A, real_B, training, translations=None):
        """Every generator-update term. `translations`: `(genA2B(real_A), genB2A(real_B))` when already computed."""
        if translations is None:
            translations = (run("genA2B", real_A), run("genB2A", real_B))
        (fake_A2B, cam_A2B, _), (fake_B2A, cam_B2A, _) = translations
        fake_A2B2A = run("genB2A", fake_A2B)[0]
        fake_B2A2B = run("genA2B", fake_B2A)[0]
        fake_A2A, cam_A2A, _ = run("genB2A", real_A)
        fake_B2B, cam_B2B, _ = run("genA2B", real_B)
        fake_scores = self._scores(run, {"A": fake_B2A, "B": fake_A2B}, training)
        embeddings = None
        if self.uses_face_id:
            # The real images' embeddings are targets; no gradient needs to reach them.
            embeddings = {
                "A": (ops.stop_gradient(run(FACE_FEATURES, real_A)), run(FACE_FEATURES, fake_A2B)),
                "B": (ops.stop_gradient(run(FACE_FEATURES, real_B)), run(FACE_FEATURES, fake_B2A)),
            }
        return self.gan_losses.generator_terms(
            real={"A": real_A, "B": real_B},
            cycled={"A": fake_A2B2A, "B": fake_B2A2B},
            identity={"A": fake_A2A, "B": fake_B2B},
            translated_cam={"A": cam_B2A, "B": cam_A2B},
            identity_cam={"A": cam_A2A, "B": cam_B2B},
            fake_scores=fake_scores,
            embeddings=embeddings,
        )

    def _check_compiled(self):
        if not isinstance(getattr(self, "optimizer", None), GANOptimizer):
            raise ValueError("Call `Photo2CartoonGAN.compile()` before training or evaluating it.")

    def _logs(self):
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def _track(self, terms):
        for name, value in terms.items():
            if self._metric_is_active(name):
                self.trackers[name].update_state(value)

    # --- TensorFlow: stateful step ---------------------------------------------------------------

    def _run(self, name, inputs, training=False):
        network = getattr(self, name)
        return network(inputs, training=training) if name in DISCRIMINATORS else network(inputs)

    def _update(self, optimizer, variables, objective, total, tape=None):
        """Runs `objective()` under a tape and applies `optimizer` to the gradient of its term `total`.

        `tape`: a tape that already recorded part of the objective, resumed here; by default a new one.
        """
        import tensorflow as tf

        tape = tape or tf.GradientTape()
        with tape:
            terms = objective()
            # Under a distribution strategy the optimiser sums the replicas' gradients.
            scaled = optimizer.scale_loss(terms[total] * _distribution_loss_scale())
        optimizer.apply(tape.gradient(scaled, variables), variables)
        return terms

    def _stateful_train_step(self, data):
        import tensorflow as tf

        real_A, real_B = _unpack_batch(data)
        # The discriminator update does not touch the generators, so the translations it judges are the
        # ones the generator update starts from: run them once, on the generator update's tape, and
        # give the discriminator update constant copies (2 of the step's 8 generator forwards saved).
        g_tape = tf.GradientTape()
        with g_tape:
            translations = (self.genA2B(real_A), self.genB2A(real_B))
        fake_A2B = ops.stop_gradient(translations[0][0])
        fake_B2A = ops.stop_gradient(translations[1][0])
        d_terms = self._update(
            self.d_optimizer,
            self.discriminator_variables,
            lambda: self._discriminator_terms(self._run, real_A, real_B, fake_A2B, fake_B2A, training=True),
            "d_loss",
        )
        g_terms = self._update(
            self.g_optimizer,
            self.generator_variables,
            lambda: self._generator_terms(self._run, real_A, real_B, training=True, translations=translations),
            "g_loss",
            tape=g_tape,
        )
        self._track({**d_terms, **g_terms})
        return self._logs()

    def _stateful_test_step(self, data):
        real_A, real_B = _unpack_batch(data)
        fake_A2B = self.genA2B(real_A)[0]
        fake_B2A = self.genB2A(real_B)[0]
        d_terms = self._discriminator_terms(self._run, real_A, real_B, fake_A2B, fake_B2A, training=False)
        g_terms = self._generator_terms(self._run, real_A, real_B, training=False)
        self._track({**d_terms, **g_terms})
        return self._logs()

    # --- JAX: stateless step ---------------------------------------------------------------------

    def _network_names(self):
        return GENERATORS + DISCRIMINATORS + ((FACE_FEATURES,) if self.face_features is not None else ())

    def _state_layout(self):
        if self._layout is None:
            self._layout = _StateLayout(self, self._network_names())
        return self._layout

    @staticmethod
    def _stateless_scale_loss(optimizer, optimizer_values, loss):
        # LossScaleOptimizer reads its dynamic scale variable: give it the step's value.
        with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, optimizer_values))):
            return optimizer.scale_loss(loss)

    def _stateless_update(self, networks, names, optimizer, optimizer_values, objective, total):
        """One optimiser update of the networks `names`, from the term `total` of `objective(networks)`.

        The optimiser was built on these networks' trainable variables in this order (`build_groups`).

        Returns:
            The terms, the networks with their new values, and the optimiser's new values.
        """
        import jax

        sizes = [len(networks.trainable[name]) for name in names]

        def by_network(flat):
            split, start = {}, 0
            for name, size in zip(names, sizes):
                split[name] = list(flat[start : start + size])
                start += size
            return split

        def loss_fn(flat):
            trial = _StatelessNetworks(self, {**networks.trainable, **by_network(flat)}, networks.non_trainable)
            terms = objective(trial)
            return self._stateless_scale_loss(optimizer, optimizer_values, terms[total]), (terms, trial.non_trainable)

        flat = [v for name in names for v in networks.trainable[name]]
        (_, (terms, non_trainable)), gradients = jax.value_and_grad(loss_fn, has_aux=True)(flat)
        flat, optimizer_values = optimizer.stateless_apply(optimizer_values, gradients, flat)
        updated = _StatelessNetworks(self, {**networks.trainable, **by_network(flat)}, non_trainable)
        return terms, updated, optimizer_values

    def _stateless_track(self, metrics_values, terms):
        with keras.StatelessScope(state_mapping=list(zip(self.metrics_variables, metrics_values))) as scope:
            self._track(terms)
            logs = self._logs()
        new_values = []
        for variable, value in zip(self.metrics_variables, metrics_values):
            current = scope.get_current_value(variable)
            new_values.append(value if current is None else current)
        return logs, new_values

    def _stateless_train_step(self, state, data):
        trainable, non_trainable, optimizer_values, metrics_values = state
        real_A, real_B = _unpack_batch(data)
        layout = self._state_layout()
        networks = _StatelessNetworks(
            self, layout.split(trainable, layout.trainable), layout.split(non_trainable, layout.non_trainable)
        )
        own, g_part, d_part = self.optimizer.group_slices()
        fake_A2B = ops.stop_gradient(networks("genA2B", real_A)[0])
        fake_B2A = ops.stop_gradient(networks("genB2A", real_B)[0])

        def d_objective(run):
            return self._discriminator_terms(run, real_A, real_B, fake_A2B, fake_B2A, training=True)

        d_terms, networks, d_values = self._stateless_update(
            networks, DISCRIMINATORS, self.d_optimizer, optimizer_values[d_part], d_objective, "d_loss"
        )

        def g_objective(run):
            return self._generator_terms(run, real_A, real_B, training=True)

        g_terms, networks, g_values = self._stateless_update(
            networks, GENERATORS, self.g_optimizer, optimizer_values[g_part], g_objective, "g_loss"
        )

        logs, metrics_values = self._stateless_track(metrics_values, {**d_terms, **g_terms})
        state = (
            layout.join(networks.trainable, layout.trainable, len(trainable)),
            layout.join(networks.non_trainable, layout.non_trainable, len(non_trainable)),
            list(optimizer_values[own]) + list(g_values) + list(d_values),
            metrics_values,
        )
        return logs, state

    def _stateless_test_step(self, state, data):
        trainable, non_trainable, metrics_values = state
        real_A, real_B = _unpack_batch(data)
        layout = self._state_layout()
        run = _StatelessNetworks(
            self, layout.split(trainable, layout.trainable), layout.split(non_trainable, layout.non_trainable)
        )
        fake_A2B = run("genA2B", real_A)[0]
        fake_B2A = run("genB2A", real_B)[0]
        d_terms = self._discriminator_terms(run, real_A, real_B, fake_A2B, fake_B2A, training=False)
        g_terms = self._generator_terms(run, real_A, real_B, training=False)
        logs, metrics_values = self._stateless_track(metrics_values, {**d_terms, **g_terms})
        return logs, (trainable, non_trainable, metrics_values)

    # --- Keras entry points ----------------------------------------------------------------------

    def train_step(self, *args):
        """One reference iteration: `train_step(data)` on TensorFlow, `train_step(state, data)` on JAX."""
        self._check_compiled()
        if keras.backend.backend() == "jax":
            return self._stateless_train_step(*args)
        return self._stateful_train_step(*args)

    def test_step(self, *args):
        """Every loss term on a validation batch, no update, discriminators in inference mode."""
        self._check_compiled()
        if keras.backend.backend() == "jax":
            return self._stateless_test_step(*args)
        return self._stateful_test_step(*args)

    # --- weights and visualisation ---------------------------------------------------------------

    def load_official(self, path):
        """Fills all six networks from the original release's `photo2cartoon_weights.pt`.

        The file is read without torch (`keras_p2c.weights.convert.load_official_networks`, strict:
        every tensor used, every weight filled). Optimiser state is not touched.

        Raises:
            WeightConversionError: the file is not the six-network checkpoint or does not convert.
            ValueError: its networks were built with other options than this GAN (the message lists them).
        """
        from keras_p2c.weights.convert import load_official_networks

        converted = load_official_networks(path)
        problems = []
        for name in GENERATORS + DISCRIMINATORS:
            problems += self._option_mismatches(name, converted[name])
        if problems:
            raise ValueError(
                f"{path}: the checkpoint's networks do not match this Photo2CartoonGAN: {'; '.join(problems)}. "
                "Build the GAN with the checkpoint's options."
            )
        for name in GENERATORS + DISCRIMINATORS:
            source, target = converted[name], getattr(self, name)
            shapes = [(tuple(a.shape), tuple(b.shape)) for a, b in zip(source.weights, target.weights)]
            if len(source.weights) != len(target.weights) or any(a != b for a, b in shapes):
                raise ValueError(f"{path}: {name}'s weights do not line up with this GAN's {name} ({shapes[:3]}...).")
            target.set_weights(source.get_weights())

    def _option_mismatches(self, name, source):
        if name in GENERATORS:
            keys = ["ngf", "n_blocks", "light", "linear_bias"] + ([] if self.light else ["img_size"])
            wanted = {key: getattr(self, key) for key in keys}
        else:
            depth = self.global_layers if name in ("disGA", "disGB") else self.local_layers
            wanted = {"ndf": self.ndf, "n_layers": depth}
        found = {key: getattr(source, key) for key in wanted}
        if found == wanted:
            return []
        differing = ", ".join(f"{key}={found[key]} (GAN: {wanted[key]})" for key in wanted if found[key] != wanted[key])
        return [f"{name} has {differing}"]

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
        outputs = {}
        sides = [("A", real_A, self.genA2B, self.genB2A)]
        if real_B is not None:
            sides.append(("B", real_B, self.genB2A, self.genA2B))
        for source, real, forward, backward in sides:
            target = "B" if source == "A" else "A"
            real = ops.convert_to_tensor(real, "float32")
            translated, _, heatmap = forward(real)
            cycled, _, cycled_heatmap = backward(translated)
            same, _, same_heatmap = backward(real)
            size = tuple(real.shape[1:3])
            outputs[f"real_{source}"] = real
            outputs[f"{source}2{target}"] = translated
            outputs[f"{source}2{target}2{source}"] = cycled
            outputs[f"{source}2{source}"] = same
            outputs[f"heatmap_{source}2{target}"] = _heatmap_image(heatmap, size)
            outputs[f"heatmap_{source}2{target}2{source}"] = _heatmap_image(cycled_heatmap, size)
            outputs[f"heatmap_{source}2{source}"] = _heatmap_image(same_heatmap, size)
        return outputs

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
