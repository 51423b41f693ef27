"""Finding image files: command-line inputs (files, folders, glob patterns), the sorted walk of a folder.

Shared by `p2c cartoonize`, dataset preparation and the training data pipelines. Each file gets a
*key*: its path relative to the folder or pattern root it came from, without the suffix (`portraits/anna` for
`IN/portraits/anna.jpg` when `IN` was given). Keys name the outputs, so a folder's layout can be
mirrored and two inputs never write the same output (`unique_keys`).

Inputs that cannot be used are returned as `(name, reason)` pairs rather than raised, so that a
batch goes on with the rest and reports them at the end.
"""

import dataclasses
import glob
import os
from pathlib import Path

# Suffixes of every format `read_image` decodes (the formats `headers.image_format` recognises); it gives
# the reason when a file still fails.
IMAGE_SUFFIXES = (
    ".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".webp", ".gif",
    ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".pam", ".pfm",
    ".avif", ".jp2", ".j2k", ".hdr", ".pic", ".sr", ".ras",
)  # fmt: skip
GLOB_CHARACTERS = "*?["


@dataclasses.dataclass(frozen=True)
class InputFile:
    """One image to process: its path and the key its outputs are named after."""

    path: Path
    key: str


def name_bytes(name):
    """The bytes a file name stands for, also when it is not valid UTF-8.

    Python decodes such names with lone surrogates (`caf\udce9` for Latin-1 `café`); `surrogateescape` gives
    their original bytes back, and for every valid UTF-8 name the same bytes as `encode("utf-8")`.
    """
    return str(name).encode("utf-8", "surrogateescape")


def printable_name(name):
    """A file name safe to print or write as UTF-8: undecodable bytes shown as `\xe9` escapes."""
    return name_bytes(name).decode("utf-8", "backslashreplace")


def short_reason(error, name):
    """An error's message on one line, without a leading `name: ` (a batch report prints the name beside it)."""
    text = " ".join(str(error).split()) or type(error).__name__
    prefix = f"{name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def is_image_name(path):
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def walk_files(folder):
    """All files under `folder`, sub-folders included, in sorted order (runs do not depend on the file system's)."""
    for directory, subdirectories, names in os.walk(folder):
        subdirectories.sort()
        for name in sorted(names):
            yield Path(directory) / name


def _key(path, root):
    relative = path.relative_to(root) if root is not None else Path(path.name)
    return relative.with_suffix("").as_posix()


def _from_folder(folder, files, skipped):
    found = False
    for path in walk_files(folder):
        if is_image_name(path):
            files.append(InputFile(path, _key(path, folder)))
            found = True
        else:
            skipped.append((str(path), f"not an image file (suffix {path.suffix or 'none'!r})"))
    if not found:
        skipped.append((str(folder), f"folder holds no image file ({', '.join(IMAGE_SUFFIXES[:5])}, ...)"))


def _glob_root(pattern):
    """The part of a glob pattern before its first wildcard component (keys are relative to it)."""
    parts = Path(pattern).parts
    for index, part in enumerate(parts):
        if any(character in part for character in GLOB_CHARACTERS):
            return Path(*parts[:index]) if index else Path(".")
    return Path(pattern).parent


def expand_inputs(inputs):
    """Expand files, folders (recursively) and glob patterns into image files.

    Args:
        inputs: iterable of strings / paths. A file is taken whatever its suffix (`read_image`
            then says what is wrong with it); a folder contributes every file below it whose
            suffix is in `IMAGE_SUFFIXES` (the others are reported); a pattern with `*`, `?` or
            `[` is expanded with `glob` (`**` recurses).

    Returns:
        `(files, skipped)`: a list of `InputFile` (duplicates removed, first occurrence kept) and
        a list of `(name, reason)` for inputs that match nothing or are not images.
    """
    files, skipped = [], []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text).expanduser()
        if path.is_dir():
            _from_folder(path, files, skipped)
        elif path.is_file():
            files.append(InputFile(path, _key(path, None)))
        elif any(character in text for character in GLOB_CHARACTERS):
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            root = _glob_root(os.path.expanduser(text))
            matched = [Path(match) for match in matches if Path(match).is_file()]
            if not matched:
                skipped.append((text, "the pattern matches no file"))
            for match in matched:
                files.append(InputFile(match, _key(match, root)))
        else:
            skipped.append((text, "no such file or folder"))
    seen, unique = set(), []
    for item in files:
        resolved = item.path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append(item)
    return unique_keys(unique), skipped


def unique_keys(files):
    """The same files with keys made unique (`photo`, `photo-2`, ...), e.g. `a.jpg` and `a.png` in one folder."""
    used, result = set(), []
    for item in files:
        key, count = item.key, 1
        while key.lower() in used:  # case-insensitive: outputs may land on such a file system
            count += 1
            key = f"{item.key}-{count}"
        used.add(key.lower())
        result.append(InputFile(item.path, key))
    return result
