// The admin's teams: create one, change its members and their weights, add team services
// (round-robin or collective), and reassign round-robin bookings.
import { useState } from "react";
import { api, ok, type Specialist, type TeamListing } from "../../api/client";
import { Failed, Loading } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { useAsync, useLatest } from "../../lib/useAsync";
import { AdminOnly } from "./AdminOnly";
import { RoundRobinBookings } from "./Reassign";
import { TeamForm } from "./TeamForm";
import { TeamServiceForm } from "./TeamServiceForm";

export default function TeamsAdminPage() {
  return <AdminOnly>{(auth) => <Teams auth={auth} />}</AdminOnly>;
}

function Teams({ auth }: { auth: { Authorization: string } }) {
  const t = text.admin.teams;
  const [loaded, reload] = useAsync(
    () =>
      Promise.all([
        ok(api.GET("/v1/teams", { params: { query: { limit: 200 } } })),
        ok(api.GET("/v1/specialists", { params: { query: { limit: 200 } } })),
      ]),
    [],
  );
  const latest = useLatest(loaded);
  if (loaded.state === "failed") return <Failed error={loaded.error} retry={reload} />;
  if (latest === null) return <Loading />;
  const [{ teams }, { specialists }] = latest;
  return (
    <section>
      <h1>{t.title}</h1>
      {teams.length === 0 ? <p>{t.none}</p> : null}
      {teams.map((team) => (
        <TeamPanel key={team.id} auth={auth} team={team} specialists={specialists} onChanged={reload} />
      ))}
      <section className="panel" aria-labelledby="new-team">
        <h2 id="new-team">{t.create}</h2>
        <TeamForm auth={auth} specialists={specialists} onSaved={reload} />
      </section>
    </section>
  );
}

function TeamPanel({
  auth,
  team,
  specialists,
  onChanged,
}: {
  auth: { Authorization: string };
  team: TeamListing;
  specialists: Specialist[];
  onChanged: () => void;
}) {
  const t = text.admin.teams;
  const [editing, setEditing] = useState(false);
  const headingId = `team-${team.id}`;
  return (
    <section className="panel team-panel" aria-labelledby={headingId}>
      <h2 id={headingId}>{team.name}</h2>
      <p>{text.teams.members(format.list(team.members.map((m) => m.name)))}</p>
      <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)}>
        {t.edit(team.name)}
      </button>
      {editing ? <TeamEditor auth={auth} teamId={team.id} specialists={specialists} onSaved={onChanged} /> : null}
      <h3>{t.services}</h3>
      {team.services.length === 0 ? <p>{t.noServices}</p> : null}
      <ul className="plain">
        {team.services.map((service) => (
          <li key={service.id}>
            <strong>{service.name}</strong> · {text.booking.minutes(service.duration_minutes)} ·{" "}
            {text.teams.assignment[service.assignment ?? ""]}
          </li>
        ))}
      </ul>
      <TeamServiceForm auth={auth} teamId={team.id} onCreated={onChanged} />
      <RoundRobinBookings auth={auth} team={team} />
    </section>
  );
}

/** The team as the admin reads it (weights and priorities), in the edit form. */
function TeamEditor({
  auth,
  teamId,
  specialists,
  onSaved,
}: {
  auth: { Authorization: string };
  teamId: string;
  specialists: Specialist[];
  onSaved: () => void;
}) {
  const [team, reload] = useAsync(
    () => ok(api.GET("/v1/teams/{team_id}", { params: { path: { team_id: teamId } }, headers: auth })),
    [teamId],
  );
  if (team.state === "loading") return <Loading />;
  if (team.state === "failed") return <Failed error={team.error} retry={reload} />;
  return <TeamForm auth={auth} specialists={specialists} team={team.value} onSaved={onSaved} />;
}
