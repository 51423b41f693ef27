"""Seeded image-file cases for the fuzz suite: good files in every layout, refused files, bombs, damaged copies.

`image_cases(seed, mutated)` returns `fuzz.Case`s: every good seed and every bad file, then `mutated`
damaged copies of the seeds. `expected(case.id)` says what a good case must decode to. Pillow (a
scikit-image dependency, so part of the test extra) writes what OpenCV cannot: CMYK JPEG, animated
GIF/WebP/PNG, multi-page and CMYK TIFF, 1-bit PNG, AVIF and JPEG 2000.
"""

import dataclasses
import functools
import io
import os
import struct
import zlib

import cv2
import numpy as np
from PIL import Image

from tests.helpers.fuzz import BAD, GOOD, Case, case_rng, damaged
from tests.helpers.images import png_bytes, with_exif_orientation

BOMB_REASON = "more than the limit"  # the pixel limit's message, from the header, before decoding
BOMB_SIDE = 30_000  # 900 MP: 9x the default limit, under OpenCV's own 2**30 (so it would allocate 2.7 GB as RGB)
LATIN1 = os.fsdecode(b"caf\xe9")  # `café` from an old Latin-1 system: not UTF-8 (`caf\udce9` in Python)
RED, BLUE = (255, 0, 0), (0, 0, 255)


@dataclasses.dataclass(frozen=True)
class Expected:
    """What a good case decodes to: `(height, width)`, and `(colour, tolerance)` of its top-left pixel."""

    shape: tuple
    colour: object = None


def picture(height=36, width=52):
    """A smooth RGB pattern (every lossy codec keeps it recognisable)."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 4 % 256, yy * 6 % 256, (xx + yy) * 2 % 256], axis=-1).astype(np.uint8)


def _cv(suffix, image, params=()):
    ok, data = cv2.imencode(suffix, image, list(params))
    assert ok, suffix
    return data.tobytes()


def _pil(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _two_frames(fmt, **options):
    """Red first, then blue: the first frame (page) must be what is read."""
    first, second = Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)
    return _pil(first, fmt, save_all=True, append_images=[second], **options)


def _tiled_tiff(width, height, tile):
    """A hand-written 8-bit gray tiled TIFF: one `tile` x `tile` tile of zeros (stored; 64 bytes of a larger one)."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (277, 3, 1),
               (322, 4, tile), (323, 4, tile), (324, 4, 0), (325, 4, tile * tile)]  # fmt: skip
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = 8 + ifd_size
    body = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        value = data_offset if tag == 324 else value
        field = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        body += struct.pack("<HHI", tag, kind, 1) + field
    return b"II*\x00" + struct.pack("<I", 8) + body + b"\x00" * 4 + b"\x00" * (tile * tile if tile <= 64 else 64)


@functools.lru_cache(maxsize=None)
def good_seeds():
    """`[(id, file name, bytes, Expected)]`: one file per layout the readers must take."""
    rgb = picture()
    bgr = rgb[:, :, ::-1].copy()
    height, width = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    alpha = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    levels = (rgb // 64).astype(np.uint8)  # 4 levels per channel: a 64-colour palette
    palette = [[r * 85, g * 85, b * 85] for r in range(4) for g in range(4) for b in range(4)]
    indices = levels[..., 0] * 16 + levels[..., 1] * 4 + levels[..., 2]
    picture_pil = Image.fromarray(rgb)
    size = (height, width)
    near = lambda colour: (colour, 12)  # noqa: E731 - lossy codecs move a flat colour by a few levels
    seeds = [
        ("png-rgb", ".png", _cv(".png", bgr), size, None),
        ("png-gray", ".png", _cv(".png", gray), size, None),
        ("png-rgba", ".png", _cv(".png", np.dstack([bgr, alpha])), size, ((255, 255, 255), 0)),  # alpha 0: white
        ("png-gray-alpha", ".png", png_bytes(np.dstack([gray, alpha]), color_type=4), size, ((255, 255, 255), 0)),
        ("png-16bit", ".png", _cv(".png", bgr.astype(np.uint16) * 257), size, (tuple(rgb[0, 0]), 0)),
        ("png-palette", ".png", png_bytes(indices, 3, palette=palette, transparency=[255] * 64), size, None),
        ("png-1bit", ".png", _pil(Image.new("1", (width, height), 1), "PNG"), size, ((255, 255, 255), 0)),
        ("png-animated", ".png", _two_frames("PNG"), (8, 8), (RED, 0)),
        ("jpeg-rgb", ".jpg", _cv(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90]), size, None),
        ("jpeg-gray", ".jpg", _cv(".jpg", gray), size, None),
        ("jpeg-progressive", ".jpg", _pil(picture_pil, "JPEG", progressive=True), size, None),
        ("jpeg-cmyk", ".jpg", _pil(Image.new("CMYK", (16, 8), (0, 255, 255, 0)), "JPEG"), (8, 16), near(RED)),
        # Stored 36 x 52, EXIF orientation 6: shown (and read) 52 x 36.
        ("jpeg-exif6", ".jpg", with_exif_orientation(_cv(".jpg", bgr), 6), (width, height), None),
        ("webp-lossy", ".webp", _cv(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 80]), size, None),
        ("webp-lossless", ".webp", _pil(picture_pil, "WEBP", lossless=True), size, (tuple(rgb[0, 0]), 0)),
        ("webp-alpha", ".webp", _pil(Image.new("RGBA", (8, 8), (255, 0, 0, 0)), "WEBP", lossless=True), (8, 8),
         ((255, 255, 255), 0)),
        ("webp-animated", ".webp", _two_frames("WEBP", lossless=True), (8, 8), (RED, 0)),
        ("gif", ".gif", _pil(picture_pil.convert("P"), "GIF"), size, None),
        ("gif-animated", ".gif", _two_frames("GIF"), (8, 8), (RED, 0)),
        ("tiff-rgb", ".tif", _cv(".tiff", bgr), size, (tuple(rgb[0, 0]), 0)),
        ("tiff-deflate", ".tiff", _pil(picture_pil, "TIFF", compression="tiff_deflate"), size, (tuple(rgb[0, 0]), 0)),
        ("tiff-16bit", ".tif", _cv(".tiff", bgr.astype(np.uint16) * 257), size, (tuple(rgb[0, 0]), 0)),
        ("tiff-multipage", ".tif", _two_frames("TIFF"), (8, 8), (RED, 0)),
        ("tiff-cmyk", ".tif", _pil(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "TIFF"), (8, 8), (RED, 0)),
        ("bmp", ".bmp", _cv(".bmp", bgr), size, (tuple(rgb[0, 0]), 0)),
        ("ppm", ".ppm", _cv(".ppm", bgr), size, (tuple(rgb[0, 0]), 0)),
        ("pgm", ".pgm", _cv(".pgm", gray), size, None),
        ("pam", ".pam", _cv(".pam", bgr), size, (tuple(rgb[0, 0]), 0)),
        ("pfm", ".pfm", _cv(".pfm", bgr.astype(np.float32) / 255), size, None),
        ("hdr", ".hdr", _cv(".hdr", bgr.astype(np.float32) / 255), size, None),
        ("sun-raster", ".ras", _cv(".ras", bgr), size, (tuple(rgb[0, 0]), 0)),
        ("jpeg2000", ".jp2", _pil(picture_pil, "JPEG2000"), size, (tuple(rgb[0, 0]), 0)),
        ("j2k-codestream", ".j2k", _pil(picture_pil, "JPEG2000", no_jp2=True), size, (tuple(rgb[0, 0]), 0)),
        ("avif", ".avif", _pil(picture_pil, "AVIF"), size, None),
        ("png-1x1", ".png", _cv(".png", bgr[:1, :1]), (1, 1), (tuple(rgb[0, 0]), 0)),
        ("jpeg-1x1", ".jpg", _cv(".jpg", bgr[:1, :1]), (1, 1), None),
        ("webp-1x1", ".webp", _pil(Image.new("RGB", (1, 1), RED), "WEBP", lossless=True), (1, 1), (RED, 0)),
        ("gif-1x1", ".gif", _pil(Image.new("RGB", (1, 1), RED), "GIF"), (1, 1), (RED, 0)),
        ("bmp-1x1", ".bmp", _cv(".bmp", bgr[:1, :1]), (1, 1), (tuple(rgb[0, 0]), 0)),
        ("png-1x4000", ".png", _cv(".png", np.full((1, 4000, 3), 90, np.uint8)), (1, 4000), ((90, 90, 90), 0)),
        ("jpeg-3000x2", ".jpg", _cv(".jpg", np.full((3000, 2, 3), 90, np.uint8)), (3000, 2), ((90, 90, 90), 6)),
    ]
    out = [(seed_id, seed_id + suffix, data, Expected(shape, colour)) for seed_id, suffix, data, shape, colour in seeds]
    # Read by their bytes, whatever the suffix says.
    by_id = {seed_id: (data, expected) for seed_id, _, data, expected in out}
    for seed_id, name in (("png-rgb", "png-named.jpg"), ("jpeg-rgb", "jpeg-named.png"), ("gif", "gif-named.webp"),
                          ("webp-lossy", "webp-named.tif")):  # fmt: skip
        out.append((f"{seed_id}/wrong-suffix", name, *by_id[seed_id]))
    out.append(("png-rgb/latin1-name", f"{LATIN1}.png", *by_id["png-rgb"]))
    out.append(("jpeg-rgb/latin1-folder", f"{LATIN1}/photo.jpg", *by_id["jpeg-rgb"]))
    return out


def expected(case_id):
    """The `Expected` decoding of a good case."""
    return {seed_id: outcome for seed_id, _, _, outcome in good_seeds()}[case_id]


# -- bombs: a good seed whose header is patched to declare BOMB_SIDE x BOMB_SIDE pixels ---------------


def _png_bomb(data, side=BOMB_SIDE):
    ihdr = data[12:16] + struct.pack(">II", side, side) + data[24:29]
    return data[:8] + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]


def _jpeg_sof_position(data):
    position = 2
    while data[position] == 0xFF and not 0xC0 <= data[position + 1] <= 0xC2:
        position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    return position


def _jpeg_bomb(data, side=min(BOMB_SIDE, 65_500), garbage=b""):
    sof = _jpeg_sof_position(data)
    patched = data[: sof + 5] + struct.pack(">HH", side, side) + data[sof + 9 :]
    return patched[:2] + garbage + patched[2:]  # libjpeg skips garbage before a marker and decodes on


def _tiff_bomb(data, side=BOMB_SIDE):
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, ifd)
    buffer = bytearray(data)
    for index in range(count):
        entry = ifd + 2 + 12 * index
        tag, kind = struct.unpack_from(order + "HH", buffer, entry)
        if tag in (256, 257):
            struct.pack_into(order + ("H" if kind == 3 else "I"), buffer, entry + 8, side)
    return bytes(buffer)


def _bigtiff_bomb(side=BOMB_SIDE):
    entries = [(256, 16, side), (257, 16, side), (258, 3, 8), (259, 3, 1), (262, 3, 1), (277, 3, 1)]
    fields = b"".join(struct.pack("<HHQQ", tag, kind, 1, value) for tag, kind, value in entries)
    body = struct.pack("<Q", len(entries)) + fields
    return b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + body + b"\x00" * 8


def _webp_bomb(data, chunk):
    buffer = bytearray(data)
    if chunk == b"VP8 ":
        struct.pack_into("<HH", buffer, 26, 16383, 16383)
    elif chunk == b"VP8L":
        bits = int.from_bytes(buffer[21:25], "little")
        buffer[21:25] = ((bits & ~0x0FFFFFFF) | 16383 | (16383 << 14)).to_bytes(4, "little")
    else:  # VP8X canvas
        buffer[24:30] = (2**24 - 1).to_bytes(3, "little") * 2
    assert bytes(buffer[12:16]) == chunk
    return bytes(buffer)


def _jp2_bomb(data, side=BOMB_SIDE):
    buffer = bytearray(data)
    box = buffer.find(b"ihdr")
    if box >= 0:
        struct.pack_into(">II", buffer, box + 4, side, side)
    siz = buffer.find(b"\xff\x4f\xff\x51") + 8
    struct.pack_into(">II", buffer, siz, side, side)
    return bytes(buffer)


def _avif_bomb(data, side=BOMB_SIDE):
    buffer = bytearray(data)
    start = buffer.find(b"ispe")
    while start >= 0:
        struct.pack_into(">II", buffer, start + 8, side, side)
        start = buffer.find(b"ispe", start + 4)
    return bytes(buffer)


def bomb_cases():
    seeds = {seed_id: data for seed_id, _, data, _ in good_seeds()}
    side = BOMB_SIDE
    text_header = b"%d %d\n" % (side, side)
    bombs = [
        ("png-ihdr", ".png", _png_bomb(seeds["png-rgb"])),
        ("png-animated-ihdr", ".png", _png_bomb(seeds["png-animated"])),
        ("jpeg-sof", ".jpg", _jpeg_bomb(seeds["jpeg-rgb"])),
        ("jpeg-progressive-sof", ".jpg", _jpeg_bomb(seeds["jpeg-progressive"])),
        ("jpeg-sof-after-garbage", ".jpg", _jpeg_bomb(seeds["jpeg-rgb"], garbage=b"\x00\x13garbage")),
        ("webp-vp8", ".webp", _webp_bomb(seeds["webp-lossy"], b"VP8 ")),
        ("webp-vp8l", ".webp", _webp_bomb(seeds["webp-lossless"], b"VP8L")),
        ("webp-vp8x", ".webp", _webp_bomb(seeds["webp-animated"], b"VP8X")),
        ("gif-screen", ".gif", seeds["gif"][:6] + struct.pack("<HH", 65535, 65535) + seeds["gif"][10:]),
        ("bmp", ".bmp", seeds["bmp"][:18] + struct.pack("<ii", side, -side) + seeds["bmp"][26:]),
        ("tiff", ".tif", _tiff_bomb(seeds["tiff-rgb"])),
        ("tiff-deflate", ".tif", _tiff_bomb(seeds["tiff-deflate"])),
        # 1 x 1 pixels in one 16384 x 16384 tile: OpenCV allocates the whole tile (1 GB as RGBA).
        ("tiff-tile", ".tif", _tiled_tiff(1, 1, 16384)),
        ("bigtiff", ".tif", _bigtiff_bomb()),
        ("ppm", ".ppm", b"P6\n" + text_header + b"255\n" + b"\x00" * 64),
        ("pgm-ascii-comment", ".pgm", b"P2\n# made by hand\n" + text_header + b"255\n0 0 0\n"),
        ("pam", ".pam", b"P7\nWIDTH %d\nHEIGHT %d\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n" % (side, side)),
        ("pfm", ".pfm", b"PF\n" + text_header + b"-1.0\n" + b"\x00" * 64),
        ("hdr", ".hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y %d +X %d\n" % (side, side) + b"\x00" * 64),
        ("sun-raster", ".ras", struct.pack(">8I", 0x59A66A95, side, side, 24, 0, 1, 0, 0) + b"\x00" * 64),
        ("jpeg2000", ".jp2", _jp2_bomb(seeds["jpeg2000"])),
        ("j2k-codestream", ".j2k", _jp2_bomb(seeds["j2k-codestream"])),
        ("avif-ispe", ".avif", _avif_bomb(seeds["avif"])),
    ]
    return [Case(f"bomb/{bomb}", f"bomb-{bomb}{suffix}", data, BAD, BOMB_REASON) for bomb, suffix, data in bombs]


def _gif_frame(data, side):
    """The GIF with its first image descriptor (after the screen and palette) declaring `side` x `side`."""
    position = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # after the global colour table
    while data[position] == 0x21:  # extension blocks: introducer, label, then sub-blocks up to a 0 length
        position += 2
        while data[position]:
            position += 1 + data[position]
        position += 1
    assert data[position] == 0x2C, "an image descriptor"
    return data[: position + 5] + struct.pack("<HH", side, side) + data[position + 9 :]


def refused_cases():
    """Files that are no image, or only the start of one: each refused with its reason."""
    seeds = {seed_id: data for seed_id, _, data, _ in good_seeds()}
    zero_width = _png_bomb(seeds["png-rgb"], side=0)
    files = [
        ("empty", "empty.png", b"", "empty"),
        ("text", "notes.png", b"just some notes, not a picture\n", "not an image"),
        ("text-latin1-name", f"{LATIN1}-notes.jpg", "caf\xe9 au lait\n".encode("latin-1"), "not an image"),
        ("pdf", "scan.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "not an image"),
        ("html", "page.webp", b"<!doctype html><title>404</title>", "not an image"),
        ("zip", "photos.png", b"PK\x03\x04" + b"\x00" * 26, "not an image"),
        ("heic", "phone.jpg", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "not an image"),
        ("png-signature-only", "sig.png", seeds["png-rgb"][:8], "truncated or corrupt"),
        ("jpeg-soi-only", "soi.jpg", b"\xff\xd8", "truncated or corrupt"),
        ("webp-riff-only", "riff.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ", "truncated or corrupt"),
        ("png-zero-width", "zero.png", zero_width, "0x0 pixels"),
        # A run of `#`s once took the PNM header reader's regular expression hours (exponential backtracking).
        ("pnm-comment-run", "hashes.ppm", b"P6\n" + b"#" * 40, "truncated or corrupt"),
        ("pnm-5000-digits", "digits.pgm", b"P5\n" + b"9" * 5000 + b" 9\n255\n", "truncated or corrupt"),
        # An 8 x 8 screen holding a 30000 x 30000 frame: OpenCV checks the frame against the screen.
        ("gif-frame-outside-screen", "frame.gif", _gif_frame(seeds["gif-1x1"], BOMB_SIDE), "truncated or corrupt"),
    ]
    return [Case(f"refused/{case_id}", name, data, BAD, reason) for case_id, name, data, reason in files]


def image_cases(seed, mutated):
    """Every good seed, bomb and refused file, then `mutated` damaged seeds (truncated, bit-flipped).

    The damaged copies are spread over the seeds (`mutated // len(seeds) + 1` planned for each, then a
    seeded subset of `mutated` of them).
    """
    cases = []
    for seed_id, name, data, _ in good_seeds():
        cases.append(Case(seed_id, name, data, GOOD))
    cases += bomb_cases() + refused_cases()
    originals = [(seed_id, name, data) for seed_id, name, data, _ in good_seeds() if "/" not in seed_id]
    per_seed = mutated // len(originals) + 1
    copies = []
    for seed_id, name, data in originals:
        copies += damaged(seed, seed_id, name, functools.partial(bytes, data), len(data), per_seed)
    chosen = {case.id for case in case_rng(seed, "image-subset").sample(copies, min(mutated, len(copies)))}
    return cases + [case for case in copies if case.id in chosen]
