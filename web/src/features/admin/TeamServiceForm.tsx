// A new service of a team: its name, duration and who is booked (one member round-robin,
// or all of them); its other terms keep the API's defaults, changed like any service's.
import { useState } from "react";
import { api, fieldErrors, ok, type Schemas } from "../../api/client";
import { Field } from "../../components/Field";
import { ErrorMessage } from "../../components/Status";
import { text } from "../../i18n/text";
import { useSubmit } from "../../lib/useSubmit";
import { Saved } from "../specialist/Saved";

const ASSIGNMENTS = ["round_robin", "collective"] as const;

export function TeamServiceForm({
  auth,
  teamId,
  onCreated,
}: {
  auth: { Authorization: string };
  teamId: string;
  onCreated: () => void;
}) {
  const t = text.admin.teams;
  const [name, setName] = useState("");
  const [duration, setDuration] = useState(30);
  const [assignment, setAssignment] = useState<(typeof ASSIGNMENTS)[number]>("round_robin");
  const [created, setCreated] = useState<string | null>(null);
  const { submit, busy, error } = useSubmit(async () => {
    setCreated(null);
    const fields = { team_id: teamId, assignment, name: name.trim(), duration_minutes: duration };
    // The generated type lists every field that has a default as present (openapi-
    // typescript reads a default as "always there"); the API fills the ones left out.
    const body = fields as Schemas["ServiceCreate"];
    const service = await ok(api.POST("/v1/services", { body, headers: auth }));
    setCreated(service.name);
    setName("");
    onCreated();
  });
  const fields = fieldErrors(error);
  return (
    <form onSubmit={submit} noValidate aria-label={t.newService}>
      <fieldset>
        <legend>{t.newService}</legend>
        <Field label={t.serviceName} required error={fields["name"]}>
          <input type="text" value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label={t.duration} required error={fields["duration_minutes"]}>
          <input type="number" min={5} value={duration} onChange={(e) => setDuration(Number(e.target.value))} />
        </Field>
        <fieldset>
          <legend>{t.assignment}</legend>
          {ASSIGNMENTS.map((value) => (
            <label key={value} className="check">
              <input
                type="radio"
                name={`assignment-${teamId}`}
                value={value}
                checked={assignment === value}
                onChange={() => setAssignment(value)}
              />
              {text.teams.assignment[value]}
            </label>
          ))}
        </fieldset>
        {fields["name"] || fields["duration_minutes"] ? null : <ErrorMessage error={error} />}
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {t.createService}
          </button>
          <Saved shown={created !== null} label={t.serviceCreated(created ?? "")} />
        </div>
      </fieldset>
    </form>
  );
}
