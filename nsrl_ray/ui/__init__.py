"""The policy explorer (`nsrl ui`): a local web app over experiment folders.

The logic (loading runs, formulas as maths, what-if, Karel traces, background extraction) lives
in plain modules that neither import nor need Gradio; only `nsrl_ray.ui.app` builds the page.
"""
