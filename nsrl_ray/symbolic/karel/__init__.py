"""The Karel DSL: programs, parser and syntax mask, interpreter, sampler and mutation (no Ray)."""
