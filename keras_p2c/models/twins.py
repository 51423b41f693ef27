"""Twin networks: the GAN's pairs of one architecture (the two generators, the global and the local discriminators).

Both steps compile one function per architecture and call it with each twin's own variable values, so
what identifies a compiled network is its class and configuration, never its name.
"""

import json


def architecture(network):
    """What decides a network's graph: its class and configuration, whatever its name (twins share it)."""
    config = {key: value for key, value in network.get_config().items() if key != "name"}
    return type(network).__name__, json.dumps(config, sort_keys=True, default=str)
