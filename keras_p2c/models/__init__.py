"""Photo2Cartoon networks: the generator, the discriminators, the Face-ID embedder and the GAN that trains them.

Loaded on first use, so that `keras_p2c.models.names` (Keras-free) can be read without importing Keras.
"""

from keras_p2c.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "keras_p2c.models.discriminator": ["Discriminator"],
        "keras_p2c.models.face_id": ["FaceFeatures", "MobileFaceNet"],
        "keras_p2c.models.gan": ["Photo2CartoonGAN"],
        "keras_p2c.models.generator": ["Generator"],
    },
)
