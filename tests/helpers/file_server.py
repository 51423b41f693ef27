"""A loopback HTTP server for one file, for download tests."""

import http.server
import re
import threading
import time


class FileServer:
    """A loopback HTTP server for one file, with switches for failures."""

    def __init__(self, content):
        self.content = content
        self.ranges = True  # honour `Range` requests
        self.cut_after = None  # close the connection after this many body bytes, once
        self.status = None  # answer every request with this error status
        self.delay = 0.0  # seconds to wait before answering
        self.requests = []  # the `Range` header of every request (None if absent)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                time.sleep(server.delay)
                if server.status:
                    self.send_error(server.status)
                    return
                body, start = server.content, 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and server.ranges:
                    start = int(match.group(1))
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                body = body[start:]
                if server.cut_after is not None:
                    body, server.cut_after = body[: server.cut_after], None
                    self.close_connection = True
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout test)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name="weights.pt"):
        return f"http://127.0.0.1:{self.httpd.server_port}/files/{name}"
