import { useState } from "react";
import { api, ok, type Specialist } from "../../api/client";
import { Link } from "../../app/router";
import { Failed, Loading } from "../../components/Status";
import { text } from "../../i18n/text";
import { useAsync } from "../../lib/useAsync";
import { TeamsList } from "../teams/TeamsList";

export function SpecialistsPage() {
  const [cursor, setCursor] = useState<string | null>(null);
  const [earlier, setEarlier] = useState<Specialist[]>([]);
  const [page, reload] = useAsync(
    () => ok(api.GET("/v1/specialists", { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })),
    [cursor],
  );
  const shown = page.state === "done" ? [...earlier, ...page.value.specialists] : earlier;
  return (
    <section>
      <h1>{text.specialists.title}</h1>
      <p>{text.specialists.intro}</p>
      {page.state === "done" && shown.length === 0 ? <p>{text.specialists.empty}</p> : null}
      <ul className="cards">
        {shown.map((specialist) => (
          <li key={specialist.id} className="card">
            <h2>{specialist.name}</h2>
            {specialist.specialty ? <p className="muted">{specialist.specialty}</p> : null}
            {specialist.bio ? <p>{specialist.bio}</p> : null}
            <Link href={`/book/${specialist.id}`} className="button">
              {text.specialists.book(specialist.name)}
            </Link>
          </li>
        ))}
      </ul>
      {page.state === "loading" ? <Loading /> : null}
      {page.state === "failed" ? (
        <Failed error={page.error} retry={reload} />
      ) : null}
      {page.state === "done" && page.value.next_cursor ? (
        <button
          type="button"
          onClick={() => {
            setEarlier(shown);
            setCursor(page.value.next_cursor ?? null);
          }}
        >
          {text.specialists.more}
        </button>
      ) : null}
      <TeamsList />
    </section>
  );
}
