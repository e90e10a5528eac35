"""Effects after commit (ARCHITECTURE.md rule 6).

A consumer's handler records what must happen with `record_effect` in its own
transaction, and drops what no longer must with `cancel_effects`; an
`EffectDispatcher` performs due effects after the commit. Operators list parked
effects and re-drive them with `parked_effects` / `redrive` (`kairos effects`).
See docs/consumers.md.
"""

from kairos.effects.backoff import Backoff
from kairos.effects.dispatcher import EffectDispatcher
from kairos.effects.model import (
    AnyEffectHandler,
    BatchEffectHandler,
    BatchOutcome,
    Effect,
    EffectHandler,
    EffectKind,
    Status,
    StoredEffect,
    TransientEffectError,
    effect_id,
)
from kairos.effects.store import (
    CHANNEL,
    cancel_effects,
    create_effects_table,
    parked_effects,
    record_effect,
    redrive,
)

__all__ = [
    "CHANNEL",
    "AnyEffectHandler",
    "Backoff",
    "BatchEffectHandler",
    "BatchOutcome",
    "Effect",
    "EffectDispatcher",
    "EffectHandler",
    "EffectKind",
    "Status",
    "StoredEffect",
    "TransientEffectError",
    "cancel_effects",
    "create_effects_table",
    "effect_id",
    "parked_effects",
    "record_effect",
    "redrive",
]
