"""The DFT engines' protocol file (``engine.yaml``, format of :mod:`aiida_flexo.protocols`)."""
