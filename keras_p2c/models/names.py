"""The reference's names of the GAN's networks (its checkpoint keys and our attribute names); Keras-free."""

GENERATORS = ("genA2B", "genB2A")
DISCRIMINATORS = ("disGA", "disGB", "disLA", "disLB")
NETWORKS = GENERATORS + DISCRIMINATORS
FACE_FEATURES = "face_features"
