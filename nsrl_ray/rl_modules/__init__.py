"""RLlib TorchRLModules wrapping symbolic parts (formulas with trainable constants)."""
