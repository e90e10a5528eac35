"""Strings every store and read model can hold; the API edge refuses the rest with 422.

A NUL can't live in a PostgreSQL `text` or `jsonb` value, so one stored in an event
(where it fits, as bytes) broke every list and projection that copied it out. The
other control characters (C0, DEL, C1) have no business in names or addresses
either. Fields that legitimately hold several lines (notes, a bio, a textarea
answer) keep tab, line feed and carriage return.

Each rule is a `pattern`, so OpenAPI documents and JSON Schemas state it too; and a
pattern makes pydantic refuse lone surrogates, which can't be encoded as UTF-8.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# Unicode category Cc: the C0 controls, DEL and the C1 controls.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
# The same but tab, line feed and carriage return.
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
NO_NUL_PATTERN = r"^[^\x00]*$"

SingleLine = Annotated[str, Field(pattern=SINGLE_LINE_PATTERN)]
"""One line of text: names, e-mail addresses, labels, query and path parameters."""

MultiLine = Annotated[str, Field(pattern=MULTI_LINE_PATTERN)]
"""Free text that may hold tabs and line breaks: notes, a bio, answers, reasons."""

Storable = Annotated[str, Field(pattern=NO_NUL_PATTERN)]
"""Any text PostgreSQL can hold: what the event contract accepts in every string."""
