"""Kairos video service (skeleton: its issue builds it)."""
