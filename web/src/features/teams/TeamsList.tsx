// The teams a client can book, below the specialists: each with its members and a link
// to its booking page. Shown only when the firm has teams.
import { api, ok } from "../../api/client";
import { Link } from "../../app/router";
import { Failed } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { useAsync } from "../../lib/useAsync";

export function TeamsList() {
  const [teams, reload] = useAsync(() => ok(api.GET("/v1/teams", { params: { query: { limit: 200 } } })), []);
  if (teams.state === "loading") return null;
  if (teams.state === "failed") return <Failed error={teams.error} retry={reload} />;
  const shown = teams.value.teams.filter((team) => team.services.length > 0);
  if (shown.length === 0) return null;
  return (
    <section aria-labelledby="teams-title">
      <h2 id="teams-title">{text.teams.title}</h2>
      <p>{text.teams.intro}</p>
      <ul className="cards">
        {shown.map((team) => (
          <li key={team.id} className="card team">
            <h3>{team.name}</h3>
            <p className="muted">{text.teams.members(format.list(team.members.map((m) => m.name)))}</p>
            <Link href={`/teams/${team.id}`} className="button">
              {text.teams.book(team.name)}
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}
