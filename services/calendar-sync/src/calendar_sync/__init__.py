"""Kairos calendar-sync service (skeleton: its issue builds it)."""
