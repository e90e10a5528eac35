// A searchable list of every IANA zone (the browser's own datalist: typing filters it);
// a zone is applied once it is a real one.
import { useId, useMemo, useState } from "react";
import { allZones, isZone, offset } from "../i18n/format";
import { text } from "../i18n/text";
import { Field } from "./Field";

export function TimeZoneField({
  label,
  value,
  onChange,
  hint,
}: {
  label: string;
  value: string;
  onChange: (zone: string) => void;
  hint?: string;
}) {
  const listId = useId();
  const known = useMemo(() => new Set(allZones()), []);
  const [draft, setDraft] = useState(value);
  const [shown, setShown] = useState(value);
  if (value !== shown) {
    // Changed from outside: show it.
    setShown(value);
    setDraft(value);
  }
  const typed = draft.trim().toLowerCase();
  // Still typing a zone's name is not an error; something no zone starts with is.
  const valid = isZone(draft.trim()) || [...known].some((zone) => zone.toLowerCase().startsWith(typed));
  return (
    <>
    <Field label={label} hint={hint ? `${hint} (${offset(value)})` : offset(value)} error={valid ? undefined : text.booking.unknownZone}>
      <input
        type="text"
        list={listId}
        autoComplete="off"
        spellCheck={false}
        value={draft}
        onChange={(event) => {
          const zone = event.target.value.trim();
          setDraft(event.target.value);
          if (applicable(zone)) {
            setShown(zone);
            onChange(zone);
          }
        }}
        onBlur={() => {
          if (!applicable(draft.trim())) setDraft(value);
        }}
      />
    </Field>
    <ZoneOptions id={listId} />
    </>
  );
}

/** A whole zone name: the list holds canonical names only (Asia/Katmandu), so any zone
 * the browser knows counts (Asia/Kathmandu), but not a fragment being typed. */
function applicable(zone: string): boolean {
  return (zone.includes("/") || zone === "UTC") && isZone(zone);
}

function ZoneOptions({ id }: { id: string }) {
  const zones = useMemo(() => allZones(), []);
  return (
    <datalist id={id}>
      {zones.map((zone) => (
        <option key={zone} value={zone} />
      ))}
    </datalist>
  );
}
