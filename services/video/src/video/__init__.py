"""Kairos video service: a LiveKit room per booking, join tokens, the session lifecycle
from LiveKit's webhooks, recording with consent, notes (README, "Video consultations")."""
