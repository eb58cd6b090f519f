"""LEAPS's program embedding (stage 1 of LEAPS): a dataset of random programs with demonstrations,
and a GRU VAE over program tokens with syntax-masked decoding (torch and numpy, no Ray)."""
