"""The GAN's training and validation steps on JAX: stateless, `train_step(state, data)`.

Keras' JAX trainer passes the model's variable values in and takes the new ones back. The networks run
through `stateless_call`, and both optimisers' values travel in the one `GANOptimizer`'s variables.

Unless the step runs eagerly, each network's `stateless_call` is one `jax.jit` per (architecture,
training mode), shared by the twins (the two generators; the two global and the two local
discriminators) and called at every site. Under `compile(jit_compile=False)` the step itself runs op by
op around those compiled networks: XLA compiles three networks and their gradients, not one program of
the whole step with every call inlined (minutes on a small CPU). Under `jit_compile=True` (Keras'
default) the networks' jits are inlined into the step's.
"""

import keras
from keras import ops

from keras_p2c.models.gan_objectives import discriminator_terms, generator_terms, unpack_batch
from keras_p2c.models.names import DISCRIMINATORS, GENERATORS
from keras_p2c.models.twins import architecture


class StatelessNetworks:
    """Calls the GAN's networks by name with explicit variable values, threading their state.

    `trainable` and `non_trainable` map a network name to its variable values in the order of the
    network's own `trainable_variables` / `non_trainable_variables`; each call stores the network's
    updated non-trainable values (the spectral-norm u, v after a training-mode call).
    """

    def __init__(self, model, trainable, non_trainable):
        self.model = model
        self.trainable = dict(trainable)
        self.non_trainable = dict(non_trainable)

    def __call__(self, name, inputs, training=False):
        forward = _network_function(self.model, name, bool(training) and name in DISCRIMINATORS)
        outputs, self.non_trainable[name] = forward(self.trainable[name], self.non_trainable[name], inputs)
        return outputs


def _network_function(gan, name, training):
    """The network `name`'s `stateless_call`, jitted once per architecture (twins share it) unless eager."""
    network = getattr(gan, name)
    kwargs = {"training": training} if name in DISCRIMINATORS else {}
    if not gan.traced_networks:
        return lambda trainable, non_trainable, inputs: network.stateless_call(trainable, non_trainable, inputs, **kwargs)
    import jax

    cache = gan._jax_functions
    key = (architecture(network), training)
    if key not in cache:
        template = network

        def forward(trainable, non_trainable, inputs):
            return template.stateless_call(trainable, non_trainable, inputs, **kwargs)

        cache[key] = jax.jit(forward)
    return cache[key]


def inference_networks(gan):
    """`run(name, inputs)` in inference mode, outside any step, with the networks' current weights: the
    functions the step jitted (a generator's inference program is the one its discriminator update runs)."""

    def run(name, inputs, training=False):
        del training  # inference mode
        network = getattr(gan, name)
        trainable = [variable.value for variable in network.trainable_variables]
        non_trainable = [variable.value for variable in network.non_trainable_variables]
        return _network_function(gan, name, False)(trainable, non_trainable, inputs)[0]

    return run


class StateLayout:
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

    def networks(self, model, trainable, non_trainable):
        """`StatelessNetworks` on the flat values of a Keras state."""
        return StatelessNetworks(
            model, self.split(trainable, self.trainable), self.split(non_trainable, self.non_trainable)
        )


def state_layout(gan):
    """The GAN's `StateLayout` (made once per `compile`)."""
    if getattr(gan, "_layout", None) is None:
        gan._layout = StateLayout(gan, gan.network_names())
    return gan._layout


def _optimizer_function(gan, optimizer):
    """`optimizer.stateless_apply`, jitted once (unless eager): one compiled update of all its variables."""
    if not gan.traced_networks:
        return optimizer.stateless_apply
    import jax

    # By the object, not its name: two optimisers may be given one name.
    cache, key = gan._jax_functions, id(optimizer)
    if key not in cache:
        cache[key] = jax.jit(optimizer.stateless_apply)
    return cache[key]


def _scale_loss(optimizer, optimizer_values, loss):
    # LossScaleOptimizer reads its dynamic scale variable: give it the step's value.
    with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, optimizer_values))):
        return optimizer.scale_loss(loss)


def _update(gan, networks, names, optimizer, optimizer_values, objective, total):
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
        trial = StatelessNetworks(gan, {**networks.trainable, **by_network(flat)}, networks.non_trainable)
        terms = objective(trial)
        return _scale_loss(optimizer, optimizer_values, terms[total]), (terms, trial.non_trainable)

    flat = [v for name in names for v in networks.trainable[name]]
    (_, (terms, non_trainable)), gradients = jax.value_and_grad(loss_fn, has_aux=True)(flat)
    flat, optimizer_values = _optimizer_function(gan, optimizer)(optimizer_values, gradients, flat)
    updated = StatelessNetworks(gan, {**networks.trainable, **by_network(flat)}, non_trainable)
    return terms, updated, optimizer_values


def _track(gan, metrics_values, terms):
    with keras.StatelessScope(state_mapping=list(zip(gan.metrics_variables, metrics_values))) as scope:
        gan.track(terms)
        logs = gan.logs()
    new_values = []
    for variable, value in zip(gan.metrics_variables, metrics_values):
        current = scope.get_current_value(variable)
        new_values.append(value if current is None else current)
    return logs, new_values


def train_step(gan, state, data):
    """One reference iteration (see `keras_p2c.models.gan`); returns `(logs, new state)`."""
    trainable, non_trainable, optimizer_values, metrics_values = state
    real_A, real_B = unpack_batch(data)
    layout = state_layout(gan)
    networks = layout.networks(gan, trainable, non_trainable)
    own, g_part, d_part = gan.optimizer.group_slices()
    fake_A2B = ops.stop_gradient(networks("genA2B", real_A)[0])
    fake_B2A = ops.stop_gradient(networks("genB2A", real_B)[0])

    def d_objective(run):
        return discriminator_terms(gan.gan_losses, run, real_A, real_B, fake_A2B, fake_B2A, training=True)

    d_terms, networks, d_values = _update(
        gan, networks, DISCRIMINATORS, gan.d_optimizer, optimizer_values[d_part], d_objective, "d_loss"
    )

    def g_objective(run):
        return generator_terms(gan.gan_losses, run, real_A, real_B, training=True, face_id=gan.uses_face_id)

    g_terms, networks, g_values = _update(
        gan, networks, GENERATORS, gan.g_optimizer, optimizer_values[g_part], g_objective, "g_loss"
    )

    logs, metrics_values = _track(gan, metrics_values, {**d_terms, **g_terms})
    state = (
        layout.join(networks.trainable, layout.trainable, len(trainable)),
        layout.join(networks.non_trainable, layout.non_trainable, len(non_trainable)),
        list(optimizer_values[own]) + list(g_values) + list(d_values),
        metrics_values,
    )
    return logs, state


def test_step(gan, state, data):
    """Every loss term on a validation batch, no update, discriminators in inference mode."""
    trainable, non_trainable, metrics_values = state
    real_A, real_B = unpack_batch(data)
    run = state_layout(gan).networks(gan, trainable, non_trainable)
    fake_A2B = run("genA2B", real_A)[0]
    fake_B2A = run("genB2A", real_B)[0]
    d_terms = discriminator_terms(gan.gan_losses, run, real_A, real_B, fake_A2B, fake_B2A, training=False)
    g_terms = generator_terms(gan.gan_losses, run, real_A, real_B, training=False, face_id=gan.uses_face_id)
    logs, metrics_values = _track(gan, metrics_values, {**d_terms, **g_terms})
    return logs, (trainable, non_trainable, metrics_values)


def predict_step(gan, state, data):
    """genA2B on `data`'s photos through its jitted network function: `(outputs, non-trainable values)`.

    An inference-mode generator changes no non-trainable value, so the state goes back as it came.
    """
    trainable, non_trainable = state
    photos, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    return state_layout(gan).networks(gan, trainable, non_trainable)("genA2B", photos), non_trainable
