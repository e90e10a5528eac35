"""Kairos notifications service (skeleton: its issue builds it)."""
