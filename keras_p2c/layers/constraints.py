"""Weight constraints shared by the normalisation layers."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_p2c")
class UnitIntervalClip(keras.constraints.Constraint):
    """Clips a weight to [0, 1] after every optimiser update.

    The reference clips ρ (AdaLIN, LIN) and w_γ, w_β (SoftAdaLIN) to [0, 1]
    right after each generator update; Keras optimisers apply a variable's
    constraint at exactly that point, so no separate clipping pass is needed.
    """

    def __call__(self, w):
        return ops.clip(w, 0.0, 1.0)

    def get_config(self):
        return {}
