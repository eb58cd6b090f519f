"""Explanations, exporters and the policy card."""
