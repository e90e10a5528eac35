// A team's public booking page: the same service choice, slot picker and one-step form
// as a specialist's (features/booking); the slots are the team's (anyone free, or all).
import { api, ok } from "../../api/client";
import { useLocation } from "../../app/router";
import { Failed, Loading } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { useAsync } from "../../lib/useAsync";
import { Booking } from "../booking/BookingPage";

export default function TeamBookingPage({ teamId }: { teamId: string }) {
  const { search } = useLocation();
  const [team, reload] = useAsync(
    () => ok(api.GET("/v1/teams/{team_id}/profile", { params: { path: { team_id: teamId } } })),
    [teamId],
  );
  if (team.state === "loading") return <Loading />;
  if (team.state === "failed") return <Failed error={team.error} retry={reload} />;
  const { name, members, services } = team.value;
  return (
    <section className="booking">
      <h1>{text.teams.bookTitle(name)}</h1>
      <p className="muted">{text.teams.members(format.list(members.map((m) => m.name)))}</p>
      {services.length === 0 ? (
        <p>{text.teams.noServices}</p>
      ) : (
        <Booking services={services} preselected={search.get("service")} embedded={false} />
      )}
    </section>
  );
}
