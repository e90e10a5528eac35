"""Kairos dev tooling (`kairos-dev`): what `make dev` and the tests need and production
images never install. The runtime library (`kairos`) must not import it."""
