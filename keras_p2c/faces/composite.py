"""Compositing face crops on white for the generator, and putting cartoons back.

Exactly as the reference's `test.py`: crop and mask resized to 256 x 256 with area interpolation,
`face * m + 255 * (1 - m)` scaled to [-1, 1] float32 as the generator input; the generator output
`(out + 1) * 127.5` composited on white with the same mask and truncated (not rounded) to uint8.

`paste_back` goes further than the reference: it warps a cartoon face back into the original photo
through the inverse of the crop and the eye-levelling rotation and blends it in with the mask, so the
rest of the photo is untouched.
"""

import cv2
import numpy as np

from keras_p2c.faces.crop import crop_to_image_matrix

GENERATOR_SIZE = 256


def _check_mask(mask, shape, name="mask"):
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.shape != tuple(shape[:2]):
        raise ValueError(f"`{name}` must be {tuple(shape[:2])} like the image. Received: shape={mask.shape}")
    return mask


def resize_to_generator(face, mask=None, size=GENERATOR_SIZE):
    """Crop and mask resized to `size` x `size` with area interpolation (the reference resizes both).

    Args:
        face: `(S, S, 3)` uint8 crop.
        mask: `(S, S)` float mask in [0, 1], or `None` for an all-ones mask (no segmentation).
        size: side of the generator input.

    Returns:
        `(face_256 uint8, mask_256 float32)`.
    """
    face_small = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    if mask is None:
        return face_small, np.ones((size, size), np.float32)
    mask = _check_mask(mask, face.shape)
    return face_small, np.clip(cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA), 0.0, 1.0)


def generator_input(face_256, mask_256):
    """`face * m + 255 * (1 - m)` scaled to [-1, 1]: `(256, 256, 3)` float32, NHWC-ready (add a batch axis)."""
    m = _check_mask(mask_256, face_256.shape, "mask_256")[:, :, None].astype(np.float64)
    # float64 like the reference's NumPy arithmetic, cast at the end.
    composited = face_256.astype(np.float64) * m + 255.0 * (1.0 - m)
    return (composited / 127.5 - 1.0).astype(np.float32)


def cartoon_to_float(output):
    """Generator output in [-1, 1] -> float32 RGB in [0, 255] (`(out + 1) * 127.5`)."""
    output = np.asarray(output, dtype=np.float32)
    return np.clip((output + 1.0) * 127.5, 0.0, 255.0)


def composite_cartoon(output, mask_256):
    """The reference's final image: the cartoon composited on white with the mask, truncated to uint8.

    Args:
        output: `(256, 256, 3)` generator output in [-1, 1].
        mask_256: `(256, 256)` float mask in [0, 1] (the one used for the input).

    Returns:
        `(256, 256, 3)` uint8 RGB.
    """
    cartoon = cartoon_to_float(output).astype(np.float64)
    m = _check_mask(mask_256, cartoon.shape, "mask_256")[:, :, None].astype(np.float64)
    # astype truncates toward zero, as the reference; values are within [0, 255] so it is a floor.
    return (cartoon * m + 255.0 * (1.0 - m)).astype(np.uint8)


def edge_feather(size, width):
    """`(size, size)` float32 weight rising linearly from 0 at the border to 1 `width` pixels in."""
    if width <= 0:
        return np.ones((size, size), np.float32)
    ramp = np.clip((np.arange(size, dtype=np.float32) + 0.5) / width, 0.0, 1.0)
    ramp = np.minimum(ramp, ramp[::-1])
    return np.minimum(ramp[:, None], ramp[None, :])


def paste_back(photo, cartoon, mask, crop_box, rotation_matrix, feather=0.04):
    """Warp a cartoon face back into the original photo and blend it in with its mask.

    The cartoon (any square size, normally 256) is mapped onto the crop box in the eye-levelled image
    and from there through the inverse rotation onto the photo, bilinearly; the mask follows the same
    warp and is multiplied by a ramp that fades to 0 at the crop's border, so no seam appears where
    the mask is still 1 at the edge (shoulders, hair). Outside the warped crop nothing changes.

    Args:
        photo: `(H, W, 3)` uint8 original photo (not modified).
        cartoon: `(S, S, 3)` cartoon, uint8 or float in [0, 255] (`cartoon_to_float(output)`; not the
            white-composited image, or its white background would bleed in at soft mask edges).
        mask: `(S, S)` float mask in [0, 1] (e.g. `PreparedFace.mask_256`), or `None` for the whole crop.
        crop_box: the `CropBox` the face was cut with.
        rotation_matrix: the `(2, 3)` eye-levelling matrix the face was aligned with.
        feather: width of the border ramp as a fraction of the crop side (0 disables it).

    Returns:
        `(H, W, 3)` uint8 photo with the face replaced.
    """
    photo = np.asarray(photo)
    cartoon = np.asarray(cartoon, dtype=np.float32)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"`photo` must be an RGB uint8 image. Received: shape={photo.shape}, dtype={photo.dtype}")
    if cartoon.ndim != 3 or cartoon.shape[2] != 3 or cartoon.shape[0] != cartoon.shape[1]:
        raise ValueError(f"`cartoon` must be a square RGB image (S, S, 3). Received: shape={cartoon.shape}")
    size = cartoon.shape[0]
    weight = np.ones((size, size), np.float32) if mask is None else _check_mask(mask, cartoon.shape)
    weight = np.clip(weight, 0.0, 1.0) * edge_feather(size, feather * size)

    # cartoon pixel -> crop pixel (pixel-centre resize mapping) -> original photo pixel.
    scale = crop_box.side / float(size)
    to_crop = np.array([[scale, 0.0, 0.5 * scale - 0.5], [0.0, scale, 0.5 * scale - 0.5], [0.0, 0.0, 1.0]])
    to_photo = np.vstack([crop_to_image_matrix(rotation_matrix, crop_box), [0.0, 0.0, 1.0]]) @ to_crop

    # Only warp into the photo region the crop covers (a small window of a large photo).
    corners = np.array([[-0.5, -0.5, 1], [size - 0.5, -0.5, 1], [size - 0.5, size - 0.5, 1], [-0.5, size - 0.5, 1]])
    mapped = corners @ to_photo[:2].T
    height, width = photo.shape[:2]
    x0 = max(int(np.floor(mapped[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(mapped[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(mapped[:, 0].max())) + 2, width)
    y1 = min(int(np.ceil(mapped[:, 1].max())) + 2, height)
    result = photo.copy()
    if x0 >= x1 or y0 >= y1:
        return result
    to_window = to_photo[:2].copy()
    to_window[:, 2] -= (x0, y0)
    window = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(cartoon, to_window, window, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(
        weight, to_window, window, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    alpha = alpha[:, :, None]
    region = result[y0:y1, x0:x1].astype(np.float32)
    blended = region * (1.0 - alpha) + warped * alpha
    result[y0:y1, x0:x1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return result
