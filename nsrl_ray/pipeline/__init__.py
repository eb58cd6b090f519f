"""Stages, Tune wiring and artifact hand-off (Ray lives here)."""
