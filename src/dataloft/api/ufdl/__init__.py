"""The UFDL dialect."""
