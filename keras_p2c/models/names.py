"""The reference's names of the GAN's networks (its checkpoint keys and our attribute names)."""

from keras_p2c.losses import DISCRIMINATORS as SCORE_KEYS

GENERATORS = ("genA2B", "genB2A")
DISCRIMINATORS = ("disGA", "disGB", "disLA", "disLB")
NETWORKS = GENERATORS + DISCRIMINATORS
FACE_FEATURES = "face_features"
# Loss-table key of each discriminator → its network; "GA" judges domain A globally.
SCORER = {key: "dis" + key for key in SCORE_KEYS}
