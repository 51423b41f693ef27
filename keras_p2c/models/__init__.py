"""Photo2Cartoon networks."""

from keras_p2c.models.discriminator import Discriminator
from keras_p2c.models.face_id import FaceFeatures, MobileFaceNet
from keras_p2c.models.gan import Photo2CartoonGAN
from keras_p2c.models.generator import Generator
