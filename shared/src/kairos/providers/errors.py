"""How a provider call fails, in the two ways the effect dispatcher tells apart.

`DeliveryDeferred` may pass (a timeout, a 4xx-temporary SMTP reply, HTTP 429 or
5xx): it is a `TransientEffectError`, so the dispatcher retries it with backoff.
`DeliveryRejected` will not pass by trying again (a refused address, bad
credentials, a subscription that is gone): the dispatcher parks the effect at once,
where an operator sees it.
"""

from __future__ import annotations

from kairos.effects import TransientEffectError


class DeliveryDeferred(TransientEffectError):
    """The provider could not take the message now; trying again later may succeed."""


class DeliveryRejected(Exception):
    """The provider refused the message for good; retrying would change nothing."""


def http_failure(provider: str, status: int, detail: str = "") -> Exception:
    """The error for a provider's failed HTTP answer: 408, 425, 429 and 5xx may pass."""
    message = f"{provider} answered {status}" + (f": {detail}" if detail else "")
    if status in (408, 425, 429) or status >= 500:
        return DeliveryDeferred(message)
    return DeliveryRejected(message)
