// A team's upcoming round-robin bookings, each with the way to give it to another member
// (POST /v1/bookings/{id}/reassign): the API answers 409 when that member is not free.
import { useState } from "react";
import { ApiError, api, ok, type TeamListing } from "../../api/client";
import { ErrorMessage, Failed, Loading } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { useAsync } from "../../lib/useAsync";

const ACTIVE = new Set(["pending", "confirmed"]);

interface Outcome {
  ok: boolean;
  message: unknown;
}

export function RoundRobinBookings({ auth, team }: { auth: { Authorization: string }; team: TeamListing }) {
  const t = text.admin.teams;
  const services = new Map(team.services.filter((s) => s.assignment === "round_robin").map((s) => [s.id, s]));
  const today = new Date().toISOString().slice(0, 10);
  const [bookings, reload] = useAsync(
    () => ok(api.GET("/v1/bookings", { params: { query: { from: today } }, headers: auth })),
    [today, team.id],
  );
  // Above the list: a reassignment reloads it, and its outcome must stay on screen.
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  if (services.size === 0) return null;
  const mine =
    bookings.state === "done"
      ? bookings.value.bookings.filter((b) => services.has(b.service_id) && ACTIVE.has(b.status))
      : [];
  return (
    <section aria-label={`${team.name}: ${t.bookings}`}>
      <h3>{t.bookings}</h3>
      {outcome?.ok ? (
        <p className="success" role="status">
          {String(outcome.message)}
        </p>
      ) : (
        <ErrorMessage error={outcome?.message ?? null} />
      )}
      {bookings.state === "loading" ? <Loading /> : null}
      {bookings.state === "failed" ? <Failed error={bookings.error} retry={reload} /> : null}
      {bookings.state === "done" && mine.length === 0 ? <p>{t.noBookings}</p> : null}
      <ul className="plain">
        {mine.map((booking) => (
          <li key={booking.id}>
            <ReassignRow
              auth={auth}
              team={team}
              bookingId={booking.id}
              when={format.dateTime(booking.starts_at, format.browserZone())}
              serviceName={services.get(booking.service_id)?.name ?? ""}
              memberId={booking.specialist_id}
              onOutcome={(result) => {
                setOutcome(result);
                if (result.ok) reload();
              }}
            />
          </li>
        ))}
      </ul>
    </section>
  );
}

function ReassignRow({
  auth,
  team,
  bookingId,
  when,
  serviceName,
  memberId,
  onOutcome,
}: {
  auth: { Authorization: string };
  team: TeamListing;
  bookingId: string;
  when: string;
  serviceName: string;
  memberId: string;
  onOutcome: (outcome: Outcome) => void;
}) {
  const t = text.admin.teams;
  const names = new Map(team.members.map((m) => [m.specialist_id, m.name]));
  const others = team.members.filter((m) => m.specialist_id !== memberId);
  const [target, setTarget] = useState(others[0]?.specialist_id ?? "");
  const reassign = async () => {
    try {
      await ok(
        api.POST("/v1/bookings/{booking_id}/reassign", {
          params: { path: { booking_id: bookingId } },
          body: { specialist_id: target },
          headers: auth,
        }),
      );
      onOutcome({ ok: true, message: t.reassigned(names.get(target) ?? "") });
    } catch (failure) {
      const busy = failure instanceof ApiError && failure.status === 409 && failure.code === "slot_unavailable";
      onOutcome({ ok: false, message: busy ? t.notFree(names.get(target) ?? "") : failure });
    }
  };
  const selectId = `reassign-${bookingId}`;
  return (
    <div className="reassign" data-booking={bookingId}>
      <p>
        <strong>{when}</strong> · {serviceName} · {t.with(names.get(memberId) ?? memberId)}
      </p>
      {others.length > 0 ? (
        <div className="actions">
          <label htmlFor={selectId}>{t.reassignTo(when)}</label>
          <select id={selectId} value={target} onChange={(e) => setTarget(e.target.value)}>
            {others.map((m) => (
              <option key={m.specialist_id} value={m.specialist_id}>
                {m.name}
              </option>
            ))}
          </select>
          <button type="button" onClick={() => void reassign()}>
            {t.reassign}
          </button>
        </div>
      ) : null}
    </div>
  );
}
