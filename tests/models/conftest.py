import importlib.util

import pytest

JAX_TESTS = "test_gan_jax.py"


@pytest.fixture(scope="session")
def reference_case(tmp_path_factory):
    """Random networks in the original release's files, a batch, and the reference's first step on it (torch)."""
    pytest.importorskip("torch")
    from tests.reference.torch_training_reference import make_reference_case

    return make_reference_case(tmp_path_factory.mktemp("reference_case"))


@pytest.fixture(scope="session", autouse=True)
def jax_training_run(request, tmp_path_factory):
    """The JAX training subprocess (`jax_training_run.py`), started as this folder's first test starts.

    It runs beside the TensorFlow tests instead of after them: both are mostly single-threaded eager
    work, so on two cores this folder finishes in about the time of the longer of the two. Started only
    when tests of `test_gan_jax.py` are selected.
    """
    selected = any(item.path.name == JAX_TESTS for item in request.session.items)
    # (No importorskip here: skipping in an autouse fixture would skip every test of the folder.)
    if not selected or not all(importlib.util.find_spec(name) for name in ("jax", "torch")):
        yield None
        return
    from tests.models.jax_training_run import JaxRun

    run = JaxRun(tmp_path_factory.mktemp("jax_training_run"))
    yield run
    run.stop()
