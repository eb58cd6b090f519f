"""The `nsrl` command line."""
