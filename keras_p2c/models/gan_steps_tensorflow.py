"""The GAN's training and validation steps on TensorFlow: stateful networks, `tf.GradientTape`.

One step calls the generators six times and the discriminators twelve times. Traced naively, every call is
inlined into one graph of ~150k operations, which takes minutes to build and to optimise before the first
step. Here each network's forward is one `tf.function` per (network, training mode), traced once and called
at every site; `_noinline` keeps it a function call in the step's graph, so TensorFlow builds, optimises and
differentiates each network once instead of once per use.

TensorFlow's graph optimiser (grappler) is turned off while the step function is instantiated: on this
graph it took about half of the time to the first step and gave no faster steps (measured on a 2-core
CPU: 64 px, first step 106 s → 51 s, steady step 1.2 s → 0.7–1.3 s; see benchmarks/README.md).
"""

import contextlib
import functools

from keras import ops

from keras_p2c.layers.normalizing import could_be_differentiated
from keras_p2c.models.gan_objectives import discriminator_terms, generator_terms, unpack_batch
from keras_p2c.models.names import DISCRIMINATORS
from keras_p2c.models.twins import architecture
from keras_p2c.optimizers import read_value


def _logs_for_fit(logs):
    """The step's logs in the form Keras' `fit` can average over the replicas of every strategy.

    Under `MultiWorkerMirroredStrategy` Keras (3.15) averages each log with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on a scalar ("Invalid reduction dimension 0 for
    input with 0 dimensions", tensorflow/tensorflow#72388): there each value goes out as a vector of one,
    which the same reduce turns back into the scalar mean over all workers.
    """
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return logs
    return {name: ops.reshape(value, (1,)) for name, value in logs.items()}


def _distribution_loss_scale():
    """1 / replicas under a distribution strategy (its optimisers sum the replicas' gradients)."""
    import tensorflow as tf

    return 1.0 / tf.distribute.get_strategy().num_replicas_in_sync


class NetworkFunctions:
    """Calls the GAN's networks by name through one traced function per (architecture, training mode).

    The two generators share one architecture, and so do the two global and the two local
    discriminators: each pair is traced, differentiated and instantiated once, its variable values
    passed in (`stateless_call` of the first of the pair) and its updated state (the discriminators'
    spectral-norm vectors) assigned back to the network called. Three traced networks instead of six,
    plus the Face-ID embedder.

    Args:
        gan: the `Photo2CartoonGAN`.
        traced: whether to trace (False: plain calls, as before compilation mattered).
    """

    def __init__(self, gan, traced=True):
        self.gan = gan
        self.traced = traced
        self._functions = {}

    def __call__(self, name, inputs, training=False):
        network = getattr(self.gan, name)
        training = bool(training) and name in DISCRIMINATORS
        if not self.traced:
            return network(inputs, training=training) if name in DISCRIMINATORS else network(inputs)
        # Traced with the normalisations' gradients only when traced on a tape (`normalizing`): a test
        # step's tape-less trace is not reused by the training step.
        key = (architecture(network), training, could_be_differentiated())
        if key not in self._functions:
            self._functions[key] = self._trace(network, {"training": training} if name in DISCRIMINATORS else {})
        # Read here, on the step's tape: the gradient reaches each network's own variables.
        trainable = [read_value(v) for v in network.trainable_variables]
        non_trainable = [read_value(v) for v in network.non_trainable_variables]
        outputs, updated = self._functions[key](trainable, non_trainable, inputs)
        if training:
            for variable, value in zip(network.non_trainable_variables, updated):
                variable.assign(value)
        return outputs

    @staticmethod
    def _trace(template, kwargs):
        import tensorflow as tf

        def forward(trainable, non_trainable, images):
            return template.stateless_call(trainable, non_trainable, images, **kwargs)

        # reduce_retracing: one trace for every batch size (a last, smaller batch does not retrace).
        return tf.function(forward, autograph=False, reduce_retracing=True, experimental_attributes={"_noinline": True})


def network_functions(gan):
    """The GAN's `NetworkFunctions` (made once per `compile`)."""
    if getattr(gan, "_network_functions", None) is None:
        gan._network_functions = NetworkFunctions(gan, traced=gan.traced_networks)
    return gan._network_functions


def inference_networks(gan):
    """`run(name, inputs)` in inference mode, outside any step: the step's traced networks (a trace of its own,
    without gradients, shared by the twins), or plain calls where the step runs eagerly."""
    return network_functions(gan)


@contextlib.contextmanager
def graph_optimizer_off():
    """Grappler off for the functions instantiated inside; the previous options are restored after."""
    import tensorflow as tf

    previous = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False, **previous})


def without_graph_optimizer(function):
    """`function` (Keras' compiled train or test function) called with grappler off (see the module doc)."""
    if getattr(function, "_p2c_without_graph_optimizer", False):
        return function

    @functools.wraps(function)
    def call(*args, **kwargs):
        with graph_optimizer_off():
            return function(*args, **kwargs)

    call._p2c_without_graph_optimizer = True
    return call


def _update(optimizer, variables, objective, total, tape=None):
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


def train_step(gan, data):
    """One reference iteration (see `keras_p2c.models.gan`); returns the logs."""
    import tensorflow as tf

    real_A, real_B = unpack_batch(data)
    run = network_functions(gan)
    # The discriminator update does not touch the generators, so the translations it judges are the
    # ones the generator update starts from: run them once, on the generator update's tape, and
    # give the discriminator update constant copies (2 of the step's 8 generator forwards saved).
    g_tape = tf.GradientTape()
    with g_tape:
        translations = (run("genA2B", real_A), run("genB2A", real_B))
    fake_A2B = ops.stop_gradient(translations[0][0])
    fake_B2A = ops.stop_gradient(translations[1][0])
    d_terms = _update(
        gan.d_optimizer,
        gan.discriminator_variables,
        lambda: discriminator_terms(gan.gan_losses, run, real_A, real_B, fake_A2B, fake_B2A, training=True),
        "d_loss",
    )
    g_terms = _update(
        gan.g_optimizer,
        gan.generator_variables,
        lambda: generator_terms(
            gan.gan_losses, run, real_A, real_B, training=True, face_id=gan.uses_face_id, translations=translations
        ),
        "g_loss",
        tape=g_tape,
    )
    gan.track({**d_terms, **g_terms})
    return _logs_for_fit(gan.logs())


def test_step(gan, data):
    """Every loss term on a validation batch, no update, discriminators in inference mode."""
    real_A, real_B = unpack_batch(data)
    run = network_functions(gan)
    fake_A2B = run("genA2B", real_A)[0]
    fake_B2A = run("genB2A", real_B)[0]
    d_terms = discriminator_terms(gan.gan_losses, run, real_A, real_B, fake_A2B, fake_B2A, training=False)
    g_terms = generator_terms(gan.gan_losses, run, real_A, real_B, training=False, face_id=gan.uses_face_id)
    gan.track({**d_terms, **g_terms})
    return _logs_for_fit(gan.logs())
