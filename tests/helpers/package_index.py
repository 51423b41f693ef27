"""A loopback PEP 503 "simple" package index serving synthetic wheels, for tests of `pip download`."""

import base64
import hashlib
import html
import http.server
import threading
import zipfile
from pathlib import Path


def _record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def write_wheel(path, name, version, members):
    """A minimal valid pure-Python wheel at `path`: `members` ({archive path: bytes}) plus its dist-info."""
    info = f"{name}-{version}.dist-info"
    files = dict(members)
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{member},{_record_hash(data)},{len(data)}\n" for member, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return Path(path)


class PackageIndex:
    """Serves `/simple/<project>/` pages and `/files/<wheel>` for the wheels given; counts downloads.

    Use as a context manager; `url` is the index URL to give pip as `--index-url`.
    """

    def __init__(self, wheels):
        self.wheels = {Path(wheel).name: Path(wheel).read_bytes() for wheel in wheels}
        self.downloads = []  # names of the wheels fetched
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                parts = [part for part in self.path.split("?")[0].split("/") if part]
                if parts[:1] == ["files"] and len(parts) == 2 and parts[1] in index.wheels:
                    index.downloads.append(parts[1])
                    self._send(index.wheels[parts[1]], "application/octet-stream")
                elif parts[:1] == ["simple"] and len(parts) == 2:
                    links = "".join(
                        f'<a href="/files/{html.escape(name)}#sha256={hashlib.sha256(data).hexdigest()}">'
                        f"{html.escape(name)}</a>\n"
                        for name, data in index.wheels.items()
                        if name.split("-")[0].lower() == parts[1].lower()
                    )
                    if links:
                        self._send(f"<!DOCTYPE html><html><body>\n{links}</body></html>".encode(), "text/html")
                    else:
                        self.send_error(404)
                else:
                    self.send_error(404)

            def _send(self, body, content_type):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_port}/simple/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
