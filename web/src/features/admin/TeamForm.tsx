// A team's name and members, each with the weight and priority round-robin weighs: the
// form that creates a team and the one that edits it.
import { useState } from "react";
import { api, fieldErrors, ok, type Specialist, type Team } from "../../api/client";
import { Field } from "../../components/Field";
import { ErrorMessage } from "../../components/Status";
import { text } from "../../i18n/text";
import { useSubmit } from "../../lib/useSubmit";
import { Saved } from "../specialist/Saved";

type Member = Team["members"][number];

export function TeamForm({
  auth,
  specialists,
  team,
  onSaved,
}: {
  auth: { Authorization: string };
  specialists: Specialist[];
  /** The team to edit; a new one when absent. */
  team?: Team;
  onSaved: () => void;
}) {
  const t = text.admin.teams;
  const [name, setName] = useState(team?.name ?? "");
  const [members, setMembers] = useState<Member[]>(
    team?.members ?? [{ specialist_id: "", weight: 1, priority: 0 }],
  );
  const [saved, setSaved] = useState(false);
  const set = (i: number, change: Partial<Member>) =>
    setMembers(members.map((m, j) => (i === j ? { ...m, ...change } : m)));

  const { submit, busy, error } = useSubmit(async () => {
    setSaved(false);
    const body = { name: name.trim(), members: members.filter((m) => m.specialist_id) };
    if (team) {
      await ok(api.PATCH("/v1/teams/{team_id}", { params: { path: { team_id: team.id } }, body, headers: auth }));
    } else {
      await ok(api.POST("/v1/teams", { body, headers: auth }));
      setName("");
      setMembers([{ specialist_id: "", weight: 1, priority: 0 }]);
    }
    setSaved(true);
    onSaved();
  });
  const fields = fieldErrors(error);
  return (
    <form className="team-form" onSubmit={submit} noValidate>
      <Field label={t.name} required error={fields["name"]}>
        <input type="text" value={name} onChange={(e) => setName(e.target.value)} />
      </Field>
      <fieldset>
        <legend>{t.members}</legend>
        {members.map((member, i) => (
          <div key={i} className="window member-row">
            <Field label={t.member(i + 1)} required>
              <select value={member.specialist_id} onChange={(e) => set(i, { specialist_id: e.target.value })}>
                <option value="">{t.choose}</option>
                {specialists.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
            </Field>
            <Field label={t.weight(i + 1)} hint={i === 0 ? t.weightHint : undefined}>
              <input
                type="number"
                min={1}
                max={100}
                value={member.weight ?? 1}
                onChange={(e) => set(i, { weight: Number(e.target.value) })}
              />
            </Field>
            <Field label={t.priority(i + 1)} hint={i === 0 ? t.priorityHint : undefined}>
              <input
                type="number"
                min={-100}
                max={100}
                value={member.priority ?? 0}
                onChange={(e) => set(i, { priority: Number(e.target.value) })}
              />
            </Field>
            {members.length > 1 ? (
              <button type="button" onClick={() => setMembers(members.filter((_, j) => j !== i))}>
                {t.remove(i + 1)}
              </button>
            ) : null}
          </div>
        ))}
        <button type="button" onClick={() => setMembers([...members, { specialist_id: "", weight: 1, priority: 0 }])}>
          {t.add}
        </button>
      </fieldset>
      {fields["name"] ? null : <ErrorMessage error={error} />}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {team ? t.saveChanges(team.name) : t.save}
        </button>
        <Saved shown={saved} label={t.saved} />
      </div>
    </form>
  );
}
