"""Prometheus metrics of effect dispatchers (registered once per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EFFECTS_FINISHED = Counter(
    "kairos_effects_finished",
    "Effect tries a dispatcher finished, by outcome (done, skipped, retried, parked,"
    " lease_lost: cancelled or taken over while it ran)",
    ["dispatcher", "kind", "outcome"],
)
EFFECTS_PERFORM_SECONDS = Histogram(
    "kairos_effects_perform_seconds",
    "Time of one provider call (the re-check included)",
    ["dispatcher", "kind"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
EFFECTS_PARKED = Gauge(
    "kairos_effects_parked",
    "Effects parked after failing, waiting for an operator (`kairos effects redrive`)",
    ["dispatcher"],
)
EFFECTS_DUE = Gauge(
    "kairos_effects_due",
    "Pending effects whose due time has come (the dispatchers' backlog)",
    ["dispatcher"],
)
