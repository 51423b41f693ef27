"""Download a weights file once into a local cache, resumably and with checks.

The file is streamed into `<name>.part` beside its final place and renamed
only after its length (and sha256, when given) checked out, so a cached file
is always complete. An interrupted download leaves the `.part` file behind
and the next call resumes it with an HTTP `Range` request (or starts over if
the server does not support ranges). Concurrent calls for the same file (e.g.
several workers) wait for each other through a lock on the `.part` file.
"""

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import warnings

from keras_p2c.cache import cache_dir as resolve_cache_dir

try:  # POSIX only; elsewhere concurrent downloads of one file are not coordinated.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

DEFAULT_TIMEOUT = 30.0
CHUNK_SIZE = 1 << 20
USER_AGENT = "keras-p2c"


class DownloadError(OSError):
    """A file could not be downloaded, or what arrived was incomplete or wrong."""


def file_sha256(path):
    """Hex SHA-256 of a file, read in chunks."""
    return file_digest(path, "sha256")


def file_digest(path, algorithm):
    """Hex digest of a file with a `hashlib` algorithm (`"sha256"`, `"md5"`, ...), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _filename_from_url(url):
    name = urllib.parse.unquote(os.path.basename(urllib.parse.urlparse(url).path))
    if not name:
        raise ValueError(f"Cannot tell a file name from the URL; pass `filename`. Received: url={url!r}")
    return name


def _is_cached(target, sha256):
    if not target.is_file():
        return False
    if sha256 is None or file_sha256(target) == sha256:
        return True
    warnings.warn(f"{target} does not have the expected sha256 {sha256}; downloading it again.", stacklevel=3)
    return False


def _manual_hint(url, target):
    return (
        f"Download {url} yourself (e.g. in a browser) and pass the local file's path "
        f"instead, or save it as {target}."
    )


def _open_locked(part):
    """Open `part` for appending, holding an exclusive lock on the file currently at that path."""
    while True:
        handle = open(part, "ab")
        if fcntl is None:
            return handle
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            current = os.stat(part)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(handle.fileno()), current):
            return handle
        # Another process renamed or removed it while we waited: lock the new one.
        handle.close()


def _request(url, offset, timeout, target):
    """Send the GET (from byte `offset`); return `(response, start, total)`.

    `start` is where the body begins in the file (`offset`, or 0 when the
    server sent the whole file) and `total` the full size if the server said.
    """
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            # The partial file is not a prefix of the remote one: start over.
            return _request(url, 0, timeout, target)
        raise DownloadError(
            f"Could not download {url}: HTTP {error.code} {error.reason}. {_manual_hint(url, target)}"
        ) from error
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"Could not download {url}: {reason}. {_manual_hint(url, target)}") from error

    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if offset and response.status == 206:
        match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == offset:
            total = int(match.group(2)) if match.group(2) != "*" else None
            if total is None and length is not None:
                total = offset + length
            return response, offset, total
        response.close()
        return _request(url, 0, timeout, target)
    # A plain 200: the server ignored the range (or none was asked for).
    return response, 0, length


def _stream(url, handle, part, target, timeout, progress):
    """Append the remote file to `handle`, resuming from its current size; return the final size."""
    from tqdm.auto import tqdm  # only when downloading: keeps `import keras_p2c.weights` light

    response, start, total = _request(url, os.fstat(handle.fileno()).st_size, timeout, target)
    handle.truncate(start)
    size = start
    try:
        with response, tqdm(
            total=total,
            initial=start,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=target.name,
            disable=not progress,
        ) as bar:
            while chunk := response.read(CHUNK_SIZE):
                handle.write(chunk)
                size += len(chunk)
                bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(
            f"Download of {url} was interrupted after {size} bytes ({error}). The partial "
            f"file {part} is kept; call again to resume. {_manual_hint(url, target)}"
        ) from error
    finally:
        handle.flush()
        os.fsync(handle.fileno())
    if total is not None and size != total:
        raise DownloadError(
            f"Download of {url} stopped after {size} of {total} bytes (connection closed). "
            f"The partial file {part} is kept; call again to resume. {_manual_hint(url, target)}"
        )
    return size


def download(url, cache_dir=None, sha256=None, filename=None, progress=True, timeout=DEFAULT_TIMEOUT):
    """Download `url` into the cache once and return the local path.

    A file already in the cache is returned without contacting the server
    (after checking its sha256, when given). Otherwise the file is streamed to
    `<filename>.part` with a progress bar, checked (length from the server;
    sha256 when given) and only then renamed into place. An interrupted
    download is resumed by the next call.

    Args:
        url: http(s) URL of the file.
        cache_dir: folder for the file; `None` means `keras_p2c.cache.cache_dir()`
            (`$KERAS_P2C_HOME`, else `~/.cache/keras_p2c`).
        sha256: expected hex SHA-256 of the file, or `None` to skip the check.
        filename: name in the cache; `None` takes the URL's last path part.
        progress: show a tqdm progress bar.
        timeout: seconds to wait for the server before giving up.

    Returns:
        `pathlib.Path` of the complete file.

    Raises:
        ValueError: bad `sha256` or `filename`.
        DownloadError: HTTP error, timeout, interrupted transfer or checksum
            mismatch; the message says how to download the file by hand.
    """
    if sha256 is not None:
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise ValueError(f"`sha256` must be 64 hex digits. Received: sha256={sha256!r}")
        sha256 = sha256.lower()
    filename = filename if filename is not None else _filename_from_url(url)
    if filename in ("", ".", "..") or "/" in filename or os.sep in filename:
        raise ValueError(f"`filename` must be a plain file name. Received: filename={filename!r}")
    cache_dir = resolve_cache_dir(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / filename
    part = cache_dir / (filename + ".part")

    if _is_cached(target, sha256):
        return target
    with _open_locked(part) as handle:
        if target.is_file() and (sha256 is None or file_sha256(target) == sha256):
            part.unlink()  # another process finished it while we waited for the lock
            return target
        _stream(url, handle, part, target, timeout, progress)
        if sha256 is not None:
            actual = file_sha256(part)
            if actual != sha256:
                part.unlink()
                raise DownloadError(
                    f"Download of {url} has sha256 {actual}, expected {sha256}; the file was "
                    f"deleted. The remote file may have changed or been corrupted. "
                    f"{_manual_hint(url, target)}"
                )
        os.replace(part, target)
    return target
