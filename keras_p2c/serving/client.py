"""A client of TF Serving's REST API: works against `tensorflow_model_server` and `p2c serve` alike."""

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path


class ServingError(RuntimeError):
    """The server answered with an error (`status`: the HTTP code, the message: the server's `error`), or
    could not be reached (`status` None)."""

    def __init__(self, status, message, url):
        super().__init__(f"{url}: HTTP {status}: {message}" if status is not None else f"{url}: {message}")
        self.status = status
        self.message = message


class Client:
    """Talks to one model on a TF Serving REST endpoint.

    Args:
        url: the server root, e.g. `http://127.0.0.1:8501`.
        model: the model name (the folder name under `saved_models/`).
        version: a version number to pin, or None for the newest served one.
        timeout: seconds to wait for each request.

    Example:
    >>> client = Client("http://127.0.0.1:8501", "photo2cartoon")
    >>> png = client.cartoonize("face.jpg")
    """

    def __init__(self, url, model, version=None, timeout=60.0):
        self.url = url.rstrip("/")
        self.model = model
        self.version = version
        self.timeout = timeout

    def _model_url(self):
        suffix = "" if self.version is None else f"/versions/{self.version}"
        return f"{self.url}/v1/models/{self.model}{suffix}"

    def _request(self, url, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            try:
                message = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                message = text
            raise ServingError(error.code, message, url) from None
        except (urllib.error.URLError, OSError) as error:
            # No HTTP answer at all (refused, unknown host, timeout): say which address was tried.
            reason = getattr(error, "reason", error)
            raise ServingError(None, f"cannot reach the server ({reason})", url) from None

    def status(self):
        """`GET /v1/models/<model>`: the version status list."""
        return self._request(self._model_url())

    def metadata(self):
        """`GET /v1/models/<model>/metadata`: model spec and signature defs."""
        return self._request(self._model_url() + "/metadata")

    def predict(self, instances=None, signature_name=None, inputs=None):
        """`POST ...:predict`; row format with `instances`, columnar with `inputs`. Returns the parsed response."""
        if (instances is None) == (inputs is None):
            raise ValueError("pass exactly one of `instances` (row format) or `inputs` (columnar format)")
        body = {"instances": instances} if inputs is None else {"inputs": inputs}
        if signature_name:
            body["signature_name"] = signature_name
        return self._request(self._model_url() + ":predict", body)

    def cartoonize(self, image):
        """Encoded image bytes (JPEG/PNG of an aligned face) or a path → PNG bytes of the cartoon."""
        if isinstance(image, (str, Path)):
            image = Path(image).read_bytes()
        response = self.predict([{"b64": base64.b64encode(image).decode("ascii")}])
        prediction = response["predictions"][0]
        if isinstance(prediction, dict) and "b64" not in prediction:
            # A server that names the outputs per instance; take the single one.
            (prediction,) = prediction.values()
        return base64.b64decode(prediction["b64"])
