"""Kairos availability service (skeleton: its issue builds it)."""
