"""Kairos shared library: the pieces every service uses the same way."""
