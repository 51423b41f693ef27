import pytest


@pytest.fixture(scope="session")
def reference_case(tmp_path_factory):
    """Random networks in the original release's files, a batch, and the reference's first step on it (torch)."""
    pytest.importorskip("torch")
    from tests.reference.torch_training_reference import make_reference_case

    return make_reference_case(tmp_path_factory.mktemp("reference_case"))
