"""The batch audit: a CSV of orders checked per patient by the engine `check()` uses (see run.py)."""
