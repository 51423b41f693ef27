"""The REST client's errors name the address it tried."""

import socket

import pytest

from keras_p2c.serving import Client, ServingError


def test_an_unreachable_server_is_a_serving_error_naming_the_url():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ServingError, match=rf"{url}/v1/models/photo2cartoon.*cannot reach the server") as caught:
        Client(url, "photo2cartoon", timeout=5).status()
    assert caught.value.status is None
