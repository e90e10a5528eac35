"""The side-effect providers a consumer calls (mail, SMS, push, calendars, video rooms),
one module each with its Protocol: a consumer's effects depend on these, never on an SDK,
so tests and `make dev` can point them at the fakes in `kairos_dev.fakes`."""
