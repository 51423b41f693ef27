"""The reference's optimiser and learning-rate schedule, and the two-optimiser holder the GAN trains with.

* `ReferenceAdam`: `torch.optim.Adam(lr, betas, eps, weight_decay)` step for step. It differs from
  `keras.optimizers.Adam` in two places (spec quirk g-8): the weight decay is *coupled* L2 (added to the
  gradient before the moments, on every parameter) where Keras' `weight_decay` is decoupled, and epsilon is
  added to the bias-corrected √v̂ where Keras adds it to the uncorrected √v (at step 1 with β₂ = 0.999 the two
  differ by a factor √(1 − β₂) ≈ 0.03 in the effective epsilon).
* `LinearDecayAfter`: constant, then linear to 0 (the reference's `decay_flag`).
* `GANOptimizer`: the generators' and the discriminators' optimisers as one `keras.optimizers.Optimizer`, so
  that what Keras does with `model.optimizer` covers both: the JAX trainer threads `optimizer.variables`
  through its compiled step (a second optimiser's moments would otherwise be dropped), `BackupAndRestore`
  builds `model.optimizer` before restoring, and `save_weights` / `load_weights` reach both.
"""

import dataclasses
import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_p2c")
class LinearDecayAfter(keras.optimizers.schedules.LearningRateSchedule):
    """Constant learning rate, then a linear fall to 0 (the reference's `decay_flag` schedule).

    Keras evaluates a schedule at `optimizer.iterations`, the number of updates already applied, so
    update k (0-based) uses `schedule(k)`. The reference (1-based step s) subtracts
    `initial / (total_steps − decay_start)` *before* each update with s > decay_start, so update k gets

        initial · (1 − max(0, k + 1 − decay_start) / (total_steps − decay_start))

    which is `initial` up to update `decay_start − 1` and exactly 0 for the last update
    (k = total_steps − 1), as the reference's step 1,000,000. Clipped at 0 beyond.

    Args:
        initial: the learning rate before the decay (1e-4).
        decay_start: updates run at the full rate (500,000); None never decays.
        total_steps: the update count at which the rate reaches 0 (1,000,000).

    Example:
    >>> schedule = LinearDecayAfter(1e-4, decay_start=500_000, total_steps=1_000_000)
    >>> float(schedule(0)), float(schedule(749_999))
    (0.0001, 5e-05)
    """

    def __init__(self, initial=1e-4, decay_start=500_000, total_steps=1_000_000, name=None):
        if not (isinstance(initial, (int, float)) and initial > 0):
            raise ValueError(f"`initial` must be a positive number. Received: initial={initial!r}")
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"`total_steps` must be a positive integer. Received: total_steps={total_steps!r}")
        if decay_start is not None and (not isinstance(decay_start, int) or not 0 <= decay_start < total_steps):
            raise ValueError(
                f"`decay_start` must be an integer in [0, total_steps={total_steps}) or None. "
                f"Received: decay_start={decay_start!r}"
            )
        self.initial = float(initial)
        self.decay_start = decay_start
        self.total_steps = total_steps
        self.name = name

    def __call__(self, step):
        initial = ops.convert_to_tensor(self.initial, "float32")
        if self.decay_start is None:
            return initial
        step = ops.cast(step, "float32")
        decayed = ops.maximum(step + 1.0 - float(self.decay_start), 0.0) / float(self.total_steps - self.decay_start)
        return initial * ops.maximum(1.0 - decayed, 0.0)

    def get_config(self):
        return {
            "initial": self.initial,
            "decay_start": self.decay_start,
            "total_steps": self.total_steps,
            "name": self.name,
        }


def _check_beta(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a number in [0, 1). Received: {name}={value!r}")
    return float(value)


def _bias_correction(beta, step):
    """1 − βᵗ in float32 without rounding β first.

    float32(0.999) is 0.999000013, which makes a float32 `1 − 0.999ᵗ` 1.3e-5 too small at t = 1 (and the
    update 6e-6 too large); torch computes it in float64. −expm1(t·ln β), with ln β taken in float64, is
    accurate to float32 round-off at every t.
    """
    if beta == 0:
        return ops.ones_like(step)
    return -ops.expm1(step * math.log(beta))


def _single_replica():
    """Whether the update runs once per step (no multi-replica `tf.distribute` strategy around it)."""
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync == 1


def _plain_tensorflow():
    """TensorFlow without a `tf.distribute` strategy: variables are plain, updates need no cross-replica step."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.distribute.has_strategy()


def read_value(variable):
    """A variable's (or tensor's) current value as a TensorFlow tensor, read where it is called (on a tape)."""
    import tensorflow as tf

    return tf.convert_to_tensor(variable.value if isinstance(variable, keras.Variable) else variable)


@keras.saving.register_keras_serializable(package="keras_p2c")
class ReferenceAdam(keras.optimizers.Adam):
    """Adam as `torch.optim.Adam`: coupled L2 weight decay, epsilon after the bias correction.

    One update of a parameter θ with gradient g at step t (1-based), as torch's single-tensor Adam:

        g ← g + weight_decay · θ
        m ← m + (1 − β₁)(g − m);  v ← β₂ v + (1 − β₂) g²
        θ ← θ − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

    Every trainable variable is decayed (the reference includes ρ, w_γ, w_β, LIN γ/β and the spectral
    `kernel`s). Variable constraints (the [0, 1] clip of ρ and w) are applied by Keras after the update,
    which is where the reference clips.

    Args:
        learning_rate: float or `LearningRateSchedule` (e.g. `LinearDecayAfter`); the reference: 1e-4.
        beta_1, beta_2: moment decay rates (the reference: 0.5, 0.999).
        epsilon: added to √v̂ (torch's default and the reference: 1e-8; Keras' Adam default is 1e-7).
        weight_decay: *coupled* L2 coefficient, torch's `weight_decay` (the reference: 1e-4); 0 for none.
            Not Keras' decoupled `weight_decay` (that one is `keras.optimizers.AdamW`'s).
        **kwargs: other `keras.optimizers.Optimizer` arguments (`name`, `clipnorm`, `use_ema`, ...).

    Example:
    >>> optimizer = ReferenceAdam(LinearDecayAfter(1e-4, 500_000, 1_000_000))
    """

    def __init__(self, learning_rate=1e-4, beta_1=0.5, beta_2=0.999, epsilon=1e-8, weight_decay=1e-4, **kwargs):
        if kwargs.pop("amsgrad", False):
            raise ValueError("ReferenceAdam does not implement amsgrad (the reference does not use it).")
        beta_1 = _check_beta("beta_1", beta_1)
        beta_2 = _check_beta("beta_2", beta_2)
        if not (isinstance(epsilon, (int, float)) and epsilon >= 0):
            raise ValueError(f"`epsilon` must be a non-negative number. Received: epsilon={epsilon!r}")
        if weight_decay is None:
            weight_decay = 0.0
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
            raise ValueError(f"`weight_decay` must be a non-negative number. Received: weight_decay={weight_decay!r}")
        # The base class's `weight_decay` is the decoupled kind: keep it off and hold ours apart.
        super().__init__(
            learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=float(epsilon), weight_decay=None, **kwargs
        )
        self.l2_weight_decay = float(weight_decay)
        self._shared_scalars = None  # set while `_backend_update_step` runs

    def _step_scalars(self, learning_rate, dtype):
        """`(lr / (1 − β₁ᵗ), √(1 − β₂ᵗ))` of this step, the same for every variable of `dtype`."""
        key = keras.backend.standardize_dtype(dtype)
        if self._shared_scalars is not None and key in self._shared_scalars:
            return self._shared_scalars[key]
        step = ops.cast(self.iterations + 1, dtype)
        scalars = (
            ops.cast(learning_rate, dtype) / _bias_correction(self.beta_1, step),
            ops.sqrt(_bias_correction(self.beta_2, step)),
        )
        if self._shared_scalars is not None:
            self._shared_scalars[key] = scalars
        return scalars

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # The step's scalars are made once for all variables rather than once per variable: the same
        # values, and ~2,000 fewer operations to trace for the GAN's 620 variables (first step at 64 px:
        # 68 s -> 60 s under the profiler). Not across the threads of a multi-replica strategy, whose
        # replicas each make their own. (TensorFlow's one-op ResourceApplyAdam would cut more, but it
        # takes 1 - beta_2 in float32, 1.3e-5 off, and missed torch's updates by 2.4e-4 lr.)
        self._shared_scalars = {} if _single_replica() else None
        try:
            if _plain_tensorflow():
                self._stacked_update(grads, trainable_variables, learning_rate)
            else:
                super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._shared_scalars = None

    def _stacked_update(self, grads, trainable_variables, learning_rate):
        """`update_step` for all variables of one shape at once: stacked, updated, unstacked and assigned.

        The arithmetic is the same element by element, so the result is the same to the last bit; the
        step's graph gets ~7 operations per variable instead of ~20 (the GAN's 620 variables come in
        about 60 shapes), which is most of what TensorFlow traces and instantiates for the update.
        """
        import tensorflow as tf

        groups = {}
        for gradient, variable in zip(grads, trainable_variables):
            key = (tuple(variable.shape), keras.backend.standardize_dtype(variable.dtype))
            groups.setdefault(key, []).append((gradient, variable))
        for (_, dtype), members in groups.items():
            step_size, bias_correction_2_sqrt = self._step_scalars(learning_rate, dtype)
            variables = [variable for _, variable in members]
            indices = [self._get_variable_index(variable) for variable in variables]
            moments = [self._momentums[i] for i in indices]
            velocities = [self._velocities[i] for i in indices]
            gradient = tf.stack([ops.cast(gradient, dtype) for gradient, _ in members])
            if self.l2_weight_decay:
                gradient = gradient + self.l2_weight_decay * tf.stack([read_value(v) for v in variables])
            m = tf.stack([read_value(v) for v in moments])
            v = tf.stack([read_value(v) for v in velocities])
            new_m, new_v, updates = self._moments_and_update(gradient, m, v, step_size, bias_correction_2_sqrt)
            for moment, velocity, variable, m_i, v_i, update in zip(
                moments, velocities, variables, tf.unstack(new_m), tf.unstack(new_v), tf.unstack(updates)
            ):
                moment.assign(m_i)
                velocity.assign(v_i)
                variable.assign_sub(update)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        step_size, bias_correction_2_sqrt = self._step_scalars(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        if self.l2_weight_decay:
            gradient = gradient + self.l2_weight_decay * variable
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        new_m, new_v, update = self._moments_and_update(gradient, m, v, step_size, bias_correction_2_sqrt)
        self.assign(m, new_m)
        self.assign(v, new_v)
        self.assign_sub(variable, update)

    def _moments_and_update(self, gradient, m, v, step_size, bias_correction_2_sqrt):
        """torch's Adam arithmetic, once for the per-variable and the stacked update: (new m, new v, θ's decrement)."""
        new_m = m + (1.0 - self.beta_1) * (gradient - m)
        new_v = self.beta_2 * v + (1.0 - self.beta_2) * ops.square(gradient)
        denominator = ops.sqrt(new_v) / bias_correction_2_sqrt + self.epsilon
        return new_m, new_v, step_size * new_m / denominator

    def get_config(self):
        config = super().get_config()
        config.pop("amsgrad", None)
        config["weight_decay"] = self.l2_weight_decay
        return config


def reference_adam(learning_rate=1e-4, name=None):
    """`ReferenceAdam` with the reference's settings: betas (0.5, 0.999), eps 1e-8, coupled L2 1e-4."""
    return ReferenceAdam(learning_rate, beta_1=0.5, beta_2=0.999, epsilon=1e-8, weight_decay=1e-4, name=name)


@dataclasses.dataclass(frozen=True)
class _VariableGroups:
    # A plain holder: assigning lists of variables to an optimiser attribute would make its tracker
    # adopt the *model's* variables as optimiser state.
    generators: tuple
    discriminators: tuple


@keras.saving.register_keras_serializable(package="keras_p2c")
class GANOptimizer(keras.optimizers.Optimizer):
    """The generators' optimiser and the discriminators' optimiser, seen by Keras as one optimiser.

    A GAN's `train_step` applies `g_optimizer` and `d_optimizer` itself (each to its own networks, at
    different points of the step); this holder only makes Keras' bookkeeping see both:

    * `variables` is both optimisers' state (own counters first, then `g_optimizer`'s, then
      `d_optimizer`'s). The JAX trainer passes exactly `model.optimizer.variables` through the compiled
      step and writes them back, so both optimisers' moments and iteration counters advance;
      `group_slices` tells a stateless step which part belongs to which optimiser.
    * `build` builds both (on their own variable groups), so `BackupAndRestore`, which builds
      `model.optimizer` before `load_weights`, restores both.
    * `save_weights` / `load_weights` reach the two as the attributes `g_optimizer` / `d_optimizer`;
      this holder itself stores only its own two counters.
    * `iterations` and `learning_rate` are the generator optimiser's (both advance once per step);
      `optimizers` lists both, which Keras' `TensorBoard` callback logs as `learning_rate_<name>`.

    Call `build_groups(generator_variables, discriminator_variables)` once (the GAN's `compile` does).

    (`keras.optimizers.MultiOptimizer`, in recent Keras only, routes one gradient list by variable; it
    refuses `LossScaleOptimizer`s inside, which mixed_float16 needs per optimiser here, and hides the
    learning rate.)

    Args:
        g_optimizer: optimiser of the generators (an instance or anything `keras.optimizers.get` takes).
        d_optimizer: optimiser of the discriminators (a different instance).
        name: optimiser name.
    """

    def __init__(self, g_optimizer, d_optimizer, name="gan_optimizer", **kwargs):
        for key in ("learning_rate", "weight_decay", "use_ema", "loss_scale_factor", "gradient_accumulation_steps"):
            value = kwargs.pop(key, None)
            if value:
                raise ValueError(f"GANOptimizer does not take `{key}`: set it on g_optimizer and d_optimizer.")
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        g_optimizer = keras.optimizers.get(g_optimizer)
        d_optimizer = keras.optimizers.get(d_optimizer)
        if g_optimizer is d_optimizer:
            raise ValueError(
                "g_optimizer and d_optimizer must be two optimiser instances (each keeps the moments of its own "
                "networks). Received the same object twice."
            )
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self._groups = None

    def build_groups(self, generator_variables, discriminator_variables):
        """Builds `g_optimizer` on the generators' variables and `d_optimizer` on the discriminators'."""
        generator_variables = list(generator_variables)
        discriminator_variables = list(discriminator_variables)
        if self.built:
            return
        self._groups = _VariableGroups(tuple(generator_variables), tuple(discriminator_variables))
        for optimizer, variables in ((self.g_optimizer, generator_variables), (self.d_optimizer, discriminator_variables)):
            if not optimizer.built:
                optimizer.build(variables)
        super().build(generator_variables + discriminator_variables)

    def build(self, var_list):
        if self.built:
            return
        if self._groups is None:
            raise ValueError(
                "GANOptimizer cannot split a flat variable list between its two optimisers: call "
                "`build_groups(generator_variables, discriminator_variables)` first (Photo2CartoonGAN.compile does)."
            )
        self.build_groups(self._groups.generators, self._groups.discriminators)

    @property
    def variables(self):
        return self._variables[:] + self.g_optimizer.variables + self.d_optimizer.variables

    def group_slices(self):
        """`(own, generators, discriminators)` slices of `variables`."""
        own = len(self._variables)
        g_end = own + len(self.g_optimizer.variables)
        return slice(0, own), slice(own, g_end), slice(g_end, g_end + len(self.d_optimizer.variables))

    @property
    def optimizers(self):
        return [self.g_optimizer, self.d_optimizer]

    @property
    def iterations(self):
        return self.g_optimizer.iterations

    @property
    def learning_rate(self):
        return self.g_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        # The base constructor stores its placeholder rate directly; later assignments (a
        # LearningRateScheduler callback) set both optimisers.
        if not hasattr(self, "g_optimizer"):
            return
        self.g_optimizer.learning_rate = learning_rate
        self.d_optimizer.learning_rate = learning_rate

    def apply(self, grads, trainable_variables=None):
        raise NotImplementedError(
            "GANOptimizer holds two optimisers that update at different points of the step: call "
            "`g_optimizer.apply` / `d_optimizer.apply` (or their `stateless_apply`)."
        )

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        self.apply(grads, trainable_variables)

    def finalize_variable_values(self, var_list):
        # Keras calls this with all trainable variables at the end of `fit` (EMA swap-in); route by group.
        if self._groups is None:
            return
        self.g_optimizer.finalize_variable_values(list(self._groups.generators))
        self.d_optimizer.finalize_variable_values(list(self._groups.discriminators))

    def save_own_variables(self, store):
        # The two optimisers save themselves (they are attributes); store only this holder's counters.
        for i, variable in enumerate(self._variables):
            store[str(i)] = keras.ops.convert_to_numpy(variable)

    def load_own_variables(self, store):
        if len(store.keys()) != len(self._variables):
            raise ValueError(
                f"Optimizer '{self.name}': the file holds {len(store.keys())} values for its own counters, "
                f"expected {len(self._variables)}. It was not written by a GANOptimizer."
            )
        for i, variable in enumerate(self._variables):
            variable.assign(store[str(i)])

    def get_config(self):
        return {
            "name": self.name,
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("g_optimizer", "d_optimizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)
