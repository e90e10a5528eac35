// Today's and the upcoming consultations, in the specialist's own zone, kept current
// without a reload (useConsultations); a booking that arrives is announced.
import { useMemo } from "react";
import { ErrorMessage, Loading } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { addDays, today } from "../../lib/calendar";
import { useNow } from "../../lib/useNow";
import { ConsultationCard } from "./ConsultationCard";
import { SignedIn, type Workspace } from "./SignedIn";
import { useConsultations, type Consultation } from "./useConsultations";

export default function DashboardPage() {
  return <SignedIn>{(workspace) => <Dashboard {...workspace} />}</SignedIn>;
}

function Dashboard({ session, specialist, services }: Workspace) {
  const t = text.specialist.dashboard;
  const zone = specialist.timezone;
  const now = useNow(15_000);
  const todayDate = today(zone, new Date(now));
  // From the start of yesterday (UTC): covers the start of today in any zone.
  const from = useMemo(() => addDays(today("UTC"), -1), []);
  const { consultations, error, arrived, refresh } = useConsultations(session.token, session.specialistId, from);
  const byService = new Map(services.map((s) => [s.id, s]));
  const card = (b: Consultation) => (
    <ConsultationCard
      key={b.id}
      booking={b}
      service={byService.get(b.service_id)}
      zone={zone}
      token={session.token}
      now={now}
      onChanged={refresh}
    />
  );
  const localDay = (b: Consultation) => today(zone, new Date(b.starts_at));
  const shown = (consultations ?? []).filter((b) => b.status !== "cancelled" && b.status !== "declined");
  const todays = shown.filter((b) => localDay(b) === todayDate);
  const upcoming = shown.filter((b) => localDay(b) > todayDate);
  return (
    <section>
      <h1>{t.title(specialist.name)}</h1>
      <p className="muted">{t.zone(zone, format.offset(zone))}</p>
      <p className="visually-hidden" role="status" aria-live="polite">
        {arrived.length > 0 ? t.arrived(arrived.map((b) => b.client_name).join(", ")) : ""}
      </p>
      <ErrorMessage error={error} />
      {consultations === null ? (
        <Loading />
      ) : (
        <>
          <h2>{t.today(format.day(todayDate))}</h2>
          {todays.length === 0 ? <p>{t.noneToday}</p> : <ul className="cards consultations">{todays.map(card)}</ul>}
          <h2>{t.upcoming}</h2>
          {upcoming.length === 0 ? (
            <p>{t.noneUpcoming}</p>
          ) : (
            [...groupByDay(upcoming, localDay)].map(([dayOf, list]) => (
              <div key={dayOf}>
                <h3 className="day-heading">{format.day(dayOf)}</h3>
                <ul className="cards consultations">{list.map(card)}</ul>
              </div>
            ))
          )}
        </>
      )}
    </section>
  );
}

function groupByDay(list: Consultation[], dayOf: (b: Consultation) => string): Map<string, Consultation[]> {
  const days = new Map<string, Consultation[]>();
  for (const b of list) days.set(dayOf(b), [...(days.get(dayOf(b)) ?? []), b]);
  return days;
}
