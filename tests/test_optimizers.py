import keras
import numpy as np
import pytest

from keras_p2c.layers.constraints import UnitIntervalClip
from keras_p2c.optimizers import GANOptimizer, LinearDecayAfter, ReferenceAdam, reference_adam

torch = pytest.importorskip("torch")


def random_problem(seed=0, shapes=((5, 3), (7,), (2, 3, 4))):
    """Random parameters and a few steps of random gradients, some of them tiny (where epsilon matters)."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=shape).astype("float32") for shape in shapes]
    grads = []
    for step in range(6):
        step_grads = []
        for shape in shapes:
            g = rng.normal(size=shape).astype("float32")
            # Gradients around 1e-8 .. 1e-6: Keras' Adam puts epsilon elsewhere and differs there.
            g.flat[::3] *= 10.0 ** rng.uniform(-8, -6, size=g.flat[::3].shape)
            step_grads.append(g)
        grads.append(step_grads)
    return params, grads


def run_torch_adam(params, grads, lrs, weight_decay=1e-4, betas=(0.5, 0.999), eps=1e-8):
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    optimizer = torch.optim.Adam(tensors, lr=lrs[0], betas=betas, eps=eps, weight_decay=weight_decay)
    for lr, step_grads in zip(lrs, grads):
        optimizer.param_groups[0]["lr"] = lr
        for tensor, g in zip(tensors, step_grads):
            tensor.grad = torch.from_numpy(g)
        optimizer.step()
    return [t.detach().numpy() for t in tensors]


def run_keras(optimizer, params, grads):
    variables = [keras.Variable(p) for p in params]
    for step_grads in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in step_grads], variables)
    return [keras.ops.convert_to_numpy(v) for v in variables]


def max_relative_difference(first, second):
    return max(float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6))) for a, b in zip(first, second))


def max_update_difference(first, second, start, lr):
    """Largest difference of the two runs' total updates, relative to lr (the scale of an Adam step)."""
    return max(float(np.max(np.abs((a - s) - (b - s)))) / lr for a, b, s in zip(first, second, start))


def test_reference_adam_matches_torch_adam_with_coupled_weight_decay():
    params, grads = random_problem()
    lr = 1e-3
    expected = run_torch_adam(params, grads, [lr] * len(grads))
    got = run_keras(reference_adam(lr), params, grads)
    assert max_relative_difference(got, expected) < 1e-6
    assert max_update_difference(got, expected, params, lr) < 1e-4


def test_keras_adam_is_not_the_reference():
    """The difference ReferenceAdam exists for: Keras' epsilon placement and decoupled decay."""
    params, grads = random_problem(seed=1)
    lr = 1e-3
    expected = run_torch_adam(params, grads, [lr] * len(grads))
    stock = run_keras(keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.999, epsilon=1e-8, weight_decay=1e-4), params, grads)
    assert max_update_difference(stock, expected, params, lr) > 1e-2


@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_weight_decay_is_torch_coupled_l2(weight_decay):
    params, grads = random_problem(seed=2)
    lr = 1e-2
    expected = run_torch_adam(params, grads, [lr] * len(grads), weight_decay=weight_decay, betas=(0.9, 0.99), eps=1e-6)
    optimizer = ReferenceAdam(lr, beta_1=0.9, beta_2=0.99, epsilon=1e-6, weight_decay=weight_decay)
    got = run_keras(optimizer, params, grads)
    assert max_relative_difference(got, expected) < 1e-6


def test_schedule_drives_the_rate_like_the_reference_decay():
    """The reference lowers lr before each step past decay_start; the schedule gives the same rates."""
    params, grads = random_problem(seed=3)
    initial, decay_start, total = 1e-2, 2, 6
    # Reference (1-based step s): lr -= initial / (total - decay_start) before each step with s > decay_start.
    lrs, lr = [], initial
    for step in range(1, total + 1):
        if step > decay_start:
            lr -= initial / (total - decay_start)
        lrs.append(lr)
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    expected = run_torch_adam(params, grads, lrs)
    schedule = LinearDecayAfter(initial, decay_start=decay_start, total_steps=total)
    np.testing.assert_allclose([float(schedule(k)) for k in range(total)], lrs, rtol=1e-6, atol=1e-9)
    got = run_keras(ReferenceAdam(schedule), params, grads)
    assert max_relative_difference(got, expected) < 1e-6


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the stacked update is TensorFlow's")
def test_the_stacked_update_equals_the_per_variable_update_bit_for_bit(monkeypatch):
    from keras_p2c import optimizers

    # Shapes repeated (stacked together) and alone; gradients from 1e-8 to 1 (epsilon matters at the low end).
    params, grads = random_problem(shapes=((3, 3, 4, 8), (8,), (3, 3, 4, 8), (8,), (5,), (3, 3, 4, 8)))
    results = {}
    for stacked in (True, False):
        monkeypatch.setattr(optimizers, "_plain_tensorflow", lambda stacked=stacked: stacked)
        optimizer = ReferenceAdam(LinearDecayAfter(1e-3, 2, 6))
        weights = run_keras(optimizer, params, grads)
        results[stacked] = weights + [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
    assert len(results[True]) == len(params) * 3 + 1  # weights, both moments and the iteration counter
    for a, b in zip(results[True], results[False]):
        np.testing.assert_array_equal(a, b)


def test_constraint_is_applied_after_the_update():
    variable = keras.Variable(np.array([0.05, 0.5, 0.95], "float32"))
    variable.constraint = UnitIntervalClip()
    optimizer = ReferenceAdam(0.1)
    optimizer.apply([keras.ops.convert_to_tensor(np.array([1.0, 1.0, -1.0], "float32"))], [variable])
    # First Adam step moves each value by ±lr; the outer two cross the bounds and are clipped.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), [0.0, 0.4, 1.0], atol=1e-6)


def test_reference_adam_serializes_with_its_coupled_decay():
    optimizer = ReferenceAdam(LinearDecayAfter(2e-4, 10, 20), beta_1=0.4, epsilon=1e-9, weight_decay=3e-4, clipnorm=2.0)
    config = optimizer.get_config()
    assert config["weight_decay"] == 3e-4
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, ReferenceAdam)
    assert restored.l2_weight_decay == 3e-4
    assert restored.weight_decay is None  # Keras' decoupled decay stays off
    assert (restored.beta_1, restored.beta_2, restored.epsilon, restored.clipnorm) == (0.4, 0.999, 1e-9, 2.0)
    assert isinstance(restored._learning_rate, LinearDecayAfter)
    assert restored._learning_rate.get_config() == optimizer._learning_rate.get_config()


def test_reference_adam_defaults_and_argument_errors():
    optimizer = ReferenceAdam()
    assert (float(optimizer.learning_rate), optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == pytest.approx(
        (1e-4, 0.5, 0.999, 1e-8)
    )
    assert optimizer.l2_weight_decay == 1e-4
    with pytest.raises(ValueError, match="beta_2"):
        ReferenceAdam(beta_2=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        ReferenceAdam(weight_decay=-1.0)
    with pytest.raises(ValueError, match="amsgrad"):
        ReferenceAdam(amsgrad=True)


# --- LinearDecayAfter ---------------------------------------------------------------------------


def test_linear_decay_values():
    schedule = LinearDecayAfter(1e-4, decay_start=500_000, total_steps=1_000_000)
    rate = lambda step: float(schedule(step))  # noqa: E731
    assert rate(0) == pytest.approx(1e-4)
    assert rate(499_999) == pytest.approx(1e-4)  # the 500,000th update: still full
    assert rate(500_000) == pytest.approx(1e-4 * (1 - 1 / 500_000))
    assert rate(749_999) == pytest.approx(5e-5)
    assert rate(999_999) == pytest.approx(0.0, abs=1e-12)  # the last update
    assert rate(2_000_000) == 0.0


def test_linear_decay_without_start_is_constant():
    schedule = LinearDecayAfter(3e-4, decay_start=None, total_steps=10)
    assert [float(schedule(k)) for k in (0, 9, 100)] == pytest.approx([3e-4] * 3)


def test_linear_decay_serialization():
    schedule = LinearDecayAfter(2e-4, decay_start=100, total_steps=300)
    assert schedule.get_config() == {"initial": 2e-4, "decay_start": 100, "total_steps": 300, "name": None}
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, LinearDecayAfter)
    for step in (0, 99, 100, 200, 299):
        assert float(restored(step)) == pytest.approx(float(schedule(step)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"initial": 0.0}, "initial"),
        ({"total_steps": 0}, "total_steps"),
        ({"decay_start": 10, "total_steps": 10}, "decay_start"),
        ({"decay_start": -1}, "decay_start"),
    ],
)
def test_linear_decay_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearDecayAfter(**kwargs)


# --- GANOptimizer ---------------------------------------------------------------------------------


def two_groups():
    generator = [keras.Variable(np.ones((3, 2), "float32")), keras.Variable(np.zeros((2,), "float32"))]
    discriminator = [keras.Variable(np.ones((4,), "float32"))]
    return generator, discriminator


def test_gan_optimizer_exposes_both_optimisers_state():
    generator, discriminator = two_groups()
    holder = GANOptimizer(reference_adam(), reference_adam())
    holder.build_groups(generator, discriminator)
    assert holder.built and holder.g_optimizer.built and holder.d_optimizer.built
    own, g_part, d_part = holder.group_slices()
    variables = holder.variables
    assert variables[g_part] == holder.g_optimizer.variables
    assert variables[d_part] == holder.d_optimizer.variables
    # Adam: iteration, learning rate, then a momentum and a velocity per variable.
    assert len(holder.g_optimizer.variables) == 2 + 2 * len(generator)
    assert len(holder.d_optimizer.variables) == 2 + 2 * len(discriminator)
    holder.g_optimizer.apply([np.ones((3, 2), "float32"), np.ones((2,), "float32")], generator)
    assert int(holder.iterations) == 1
    assert int(holder.d_optimizer.iterations) == 0


def test_gan_optimizer_learning_rate_is_set_on_both():
    holder = GANOptimizer(reference_adam(1e-4), reference_adam(1e-4))
    holder.learning_rate = 5e-5
    assert float(holder.g_optimizer.learning_rate) == pytest.approx(5e-5)
    assert float(holder.d_optimizer.learning_rate) == pytest.approx(5e-5)
    assert float(holder.learning_rate) == pytest.approx(5e-5)


def test_gan_optimizer_refuses_what_it_cannot_do():
    optimizer = reference_adam()
    with pytest.raises(ValueError, match="two optimiser instances"):
        GANOptimizer(optimizer, optimizer)
    holder = GANOptimizer(reference_adam(), reference_adam())
    with pytest.raises(ValueError, match="build_groups"):
        holder.build([keras.Variable(1.0)])
    with pytest.raises(NotImplementedError, match="g_optimizer"):
        holder.apply([1.0], [keras.Variable(1.0)])
    with pytest.raises(ValueError, match="learning_rate"):
        GANOptimizer(reference_adam(), reference_adam(), learning_rate=1e-3)


def test_gan_optimizer_serializes_its_two_optimisers():
    holder = GANOptimizer(ReferenceAdam(2e-4), ReferenceAdam(LinearDecayAfter(1e-4, 5, 10)), name="both")
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(holder))
    assert isinstance(restored, GANOptimizer) and restored.name == "both"
    assert isinstance(restored.g_optimizer, ReferenceAdam) and isinstance(restored.d_optimizer, ReferenceAdam)
    assert float(restored.g_optimizer.learning_rate) == pytest.approx(2e-4)
    assert isinstance(restored.d_optimizer._learning_rate, LinearDecayAfter)
