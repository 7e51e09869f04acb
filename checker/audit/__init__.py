"""Batch audit of CSV medication lists: the same findings as `check()`, per patient."""
