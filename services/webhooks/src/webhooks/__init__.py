"""Kairos webhooks service: booking lifecycle events, signed, to the firm's endpoints."""
