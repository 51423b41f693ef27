"""An image file's format and its declared size, read from the first bytes without decoding anything.

`read_image` checks its pixel limit on these sizes *before* OpenCV decodes, since OpenCV allocates the
whole image (and, for tiled TIFFs, a whole tile) from the header before it reads a single pixel: a few
hundred bytes that claim 30 000 x 30 000 pixels would otherwise cost gigabytes. So every format
OpenCV's image decoders read here (its build: PNG, JPEG, WebP, GIF, BMP, TIFF and BigTIFF, the PNM family
with PAM and PFM, Sun raster, Radiance HDR, JPEG 2000, AVIF) is recognised by its signature and has a
size reader; a file of any other format is not handed to OpenCV at all.

Each reader follows what the decoder itself will read: the JPEG walk skips stray bytes between markers
as libjpeg does (so a garbage byte cannot hide the frame header from this check but not from libjpeg),
TIFF counts its tile size too, AVIF and JPEG 2000 take the largest size any of their boxes declare.
"""

import re
import struct

# Signature → format name, in the order they are tried.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\x59\xa6\x6a\x95", "sunras"),
    (b"#?RADIANCE", "hdr"),
    (b"#?RGBE", "hdr"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jp2"),
    (b"\xff\x4f\xff\x51", "jp2"),  # a bare JPEG 2000 codestream (.j2k)
)
_PNM = re.compile(rb"P[1-7]\s|P[Ff]\s")
# ISO base media brands of the AVIF files libavif opens.
_AVIF_BRANDS = (b"avif", b"avis")  # not HEIC (`heic`, `mif1` alone), which OpenCV does not read

# How a format is named in messages.
FORMAT_NAMES = {
    "png": "PNG", "jpeg": "JPEG", "gif": "GIF", "bmp": "BMP", "webp": "WebP", "tiff": "TIFF", "pnm": "PNM/PAM/PFM",
    "sunras": "Sun raster", "hdr": "Radiance HDR", "jp2": "JPEG 2000", "avif": "AVIF",
}  # fmt: skip


def image_format(data):
    """The container format from the first bytes (`"png"`, `"jpeg"`, ...; see `FORMAT_NAMES`), or `None`."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if _PNM.match(data[:3]):
        return "pnm"
    if data[4:8] == b"ftyp" and any(brand in data[8 : _u32be(data, 0)] for brand in _AVIF_BRANDS):
        return "avif"
    return None


def _u32be(data, offset):
    return int.from_bytes(data[offset : offset + 4], "big") if len(data) >= offset + 4 else 0


def _png_size(data):
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


# SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


# A marker: 0xFF (more of them are fill bytes), then a byte that is neither 0x00 (stuffing) nor 0xFF. Written
# with a literal first byte, which `re` scans for quickly: a damaged file may be megabytes of garbage.
_JPEG_MARKER = re.compile(rb"\xff\xff*([\x01-\xfe])")


def _jpeg_size(data):
    """Width and height from the first start-of-frame marker, walking the segments from SOI as libjpeg does.

    libjpeg skips any bytes that are not a marker (with a "Corrupt JPEG data: N extraneous bytes" warning)
    and decodes on, so the walk skips them too instead of giving up before the frame header.
    """
    position, end = 2, len(data)
    while True:
        match = _JPEG_MARKER.search(data, position)
        if match is None:
            return None
        marker, position = match.group(1)[0], match.end()
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            continue
        if marker in (0xD9, 0xDA) or position + 2 > end:  # end of image or start of scan before any frame
            return None
        (length,) = struct.unpack(">H", data[position : position + 2])
        if length < 2:
            return None
        if marker in _JPEG_FRAMES:
            if position + 7 > end:
                return None
            height, width = struct.unpack(">HH", data[position + 3 : position + 7])
            return width, height
        position += length


def _gif_size(data):
    return struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None


def _bmp_size(data):
    if len(data) < 26:
        return None
    if int.from_bytes(data[14:18], "little") == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)


def _webp_size(data):
    if len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


# TIFF tags: ImageWidth, ImageLength, TileWidth, TileLength; field types SHORT, LONG, LONG8 (BigTIFF).
_TIFF_TAGS = (256, 257, 322, 323)
_TIFF_TYPES = {3: "H", 4: "I", 16: "Q"}


def _tiff_size(data):
    """The first page's size (what OpenCV decodes); a larger tile counts instead, as OpenCV allocates whole tiles."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    try:
        if big:
            (ifd,) = struct.unpack_from(order + "Q", data, 8)
            (count,) = struct.unpack_from(order + "Q", data, ifd)
            first, entry, field = ifd + 8, 20, 12
        else:
            (ifd,) = struct.unpack_from(order + "I", data, 4)
            (count,) = struct.unpack_from(order + "H", data, ifd)
            first, entry, field = ifd + 2, 12, 8
        values = {}
        for index in range(min(count, (len(data) - first) // entry)):
            start = first + index * entry
            tag, kind = struct.unpack_from(order + "HH", data, start)
            if tag in _TIFF_TAGS and kind in _TIFF_TYPES:
                (values[tag],) = struct.unpack_from(order + _TIFF_TYPES[kind], data, start + field)
    except struct.error:
        return None
    if 256 not in values or 257 not in values:
        return None
    return max(values[256], values.get(322, 0)), max(values[257], values.get(323, 0))


# Header numbers: at most 20 digits (`int()` of thousands raises, and no image is that large anyway).
_NUMBER = re.compile(rb"\d{1,20}(?!\d)")
_SPACE = re.compile(rb"[ \t\r\n\v\f]*")
_PAM_FIELD = re.compile(rb"^(WIDTH|HEIGHT)[ \t]+(\d{1,20})(?!\d)", re.MULTILINE)


def _pnm_numbers(data, position, count):
    """`count` numbers from `position`, skipping whitespace and `#` comments (to the end of their line).

    A loop, not one regular expression: "(whitespace or #comment)* then digits" as one pattern backtracks
    exponentially on a run of `#` (seconds for 24 of them, hours for 30).
    """
    numbers = []
    while len(numbers) < count:
        position = _SPACE.match(data, position).end()
        if data[position : position + 1] == b"#":
            newline = data.find(b"\n", position)
            if newline < 0:
                return None
            position = newline + 1
            continue
        match = _NUMBER.match(data, position)
        if match is None:
            return None
        numbers.append(int(match.group()))
        position = match.end()
    return numbers


def _pnm_size(data):
    if data[1:2] == b"7":  # PAM: "WIDTH w" and "HEIGHT h" lines before ENDHDR
        header = data[: data.find(b"ENDHDR")] if b"ENDHDR" in data[:4096] else b""
        fields = {name: int(value) for name, value in _PAM_FIELD.findall(header)}
        return (fields[b"WIDTH"], fields[b"HEIGHT"]) if len(fields) == 2 else None
    numbers = _pnm_numbers(data, 2, 2)  # P1-P6 and PF/Pf: width and height
    return tuple(numbers) if numbers else None


def _sunras_size(data):
    return struct.unpack(">II", data[4:12]) if len(data) >= 12 else None


_HDR_RESOLUTION = re.compile(rb"\n\n([-+])([XY]) (\d{1,20}) ([-+])([XY]) (\d{1,20})(?!\d)")


def _hdr_size(data):
    match = _HDR_RESOLUTION.search(data[:65536])
    if match is None or match.group(2) == match.group(5):
        return None
    first, second = int(match.group(3)), int(match.group(6))
    return (second, first) if match.group(2) == b"Y" else (first, second)


def _jp2_size(data):
    """The largest of the `ihdr` box's size and every codestream SIZ marker's (OpenJPEG reads both)."""
    sizes = []
    for match in re.finditer(rb"ihdr", data[:65536]):
        if len(data) >= match.end() + 8:
            height, width = struct.unpack(">II", data[match.end() : match.end() + 8])
            sizes.append((width, height))
    for match in re.finditer(rb"\xff\x4f\xff\x51", data):
        start = match.end() + 4  # after Lsiz and Rsiz
        if len(data) >= start + 16:
            width, height, x_offset, y_offset = struct.unpack(">IIII", data[start : start + 16])
            sizes.append((max(width - x_offset, 0), max(height - y_offset, 0)))
    return max(sizes, key=lambda size: size[0] * size[1]) if sizes else None


def _avif_size(data):
    """The largest `ispe` (image spatial extents) property: the primary image, a grid's output or a tile."""
    sizes = []
    for match in re.finditer(rb"ispe", data[:1 << 20]):
        if len(data) >= match.end() + 12:
            sizes.append(struct.unpack(">II", data[match.end() + 4 : match.end() + 12]))
    return max(sizes, key=lambda size: size[0] * size[1]) if sizes else None


_SIZE_READERS = {
    "png": _png_size, "jpeg": _jpeg_size, "gif": _gif_size, "bmp": _bmp_size, "webp": _webp_size,
    "tiff": _tiff_size, "pnm": _pnm_size, "sunras": _sunras_size, "hdr": _hdr_size, "jp2": _jp2_size,
    "avif": _avif_size,
}  # fmt: skip


def header_size(data):
    """`(width, height)` the file's header declares, without decoding; `None` if it cannot be found.

    `None` for a recognised format means a header too damaged to read (the decoder would fail on it too).
    """
    reader = _SIZE_READERS.get(image_format(data))
    return reader(data) if reader is not None else None
