// Past (and any) consultations with filters — client e-mail, date range, status — each
// with its booked and actual duration, and on demand its recording and notes.
import { useState, type FormEvent } from "react";
import { api, bearer, fieldErrors, ok } from "../../api/client";
import { Field } from "../../components/Field";
import { ErrorMessage, Loading } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { addDays, today } from "../../lib/calendar";
import { useAsync } from "../../lib/useAsync";
import { SignedIn, type Workspace } from "./SignedIn";
import { useVideoSession } from "./useVideoSession";
import type { Consultation } from "./useConsultations";

const STATUSES = ["pending", "confirmed", "in_progress", "completed", "cancelled", "declined", "no_show"] as const;
type Status = (typeof STATUSES)[number];

export default function HistoryPage() {
  return <SignedIn>{(workspace) => <History {...workspace} />}</SignedIn>;
}

interface Filters {
  client_email: string;
  from: string;
  to: string;
  status: Status | "";
}

function History({ session, specialist, services }: Workspace) {
  const t = text.specialist.history;
  const zone = specialist.timezone;
  const initial: Filters = { client_email: "", from: addDays(today(zone), -30), to: today(zone), status: "" };
  const [draft, setDraft] = useState<Filters>(initial);
  const [filters, setFilters] = useState<Filters>(initial);
  const [list] = useAsync(async () => {
    const query = {
      specialist_id: session.specialistId,
      ...(filters.client_email ? { client_email: filters.client_email } : {}),
      ...(filters.from ? { from: filters.from } : {}),
      ...(filters.to ? { to: filters.to } : {}),
      ...(filters.status ? { status: filters.status } : {}),
    };
    return (await ok(api.GET("/v1/bookings", { params: { query }, headers: bearer(session.token) }))).bookings;
  }, [filters, session.specialistId, session.token]);
  const byService = new Map(services.map((s) => [s.id, s.name]));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setFilters(draft);
  };
  const errors = list.state === "failed" ? fieldErrors(list.error) : {};
  return (
    <section>
      <h1>{t.title}</h1>
      <form className="filters view-options" onSubmit={submit} aria-label={t.filters}>
        <Field label={t.clientEmail} error={errors["client_email"]}>
          <input type="email" value={draft.client_email} onChange={(e) => setDraft({ ...draft, client_email: e.target.value })} />
        </Field>
        <Field label={t.from}>
          <input type="date" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
        </Field>
        <Field label={t.to}>
          <input type="date" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
        </Field>
        <Field label={t.status}>
          <select value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value as Status | "" })}>
            <option value="">{t.anyStatus}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {text.manage.statuses[s] ?? s}
              </option>
            ))}
          </select>
        </Field>
        <button className="primary" type="submit">
          {t.apply}
        </button>
      </form>
      {list.state === "loading" ? <Loading /> : null}
      {list.state === "failed" ? <ErrorMessage error={list.error} /> : null}
      {list.state === "done" ? (
        list.value.length === 0 ? (
          <p>{t.none}</p>
        ) : (
          <ul className="history">
            {[...list.value].reverse().map((b) => (
              <Row key={b.id} booking={b} service={byService.get(b.service_id) ?? ""} zone={zone} token={session.token} />
            ))}
          </ul>
        )
      ) : null}
    </section>
  );
}

function Row({ booking, service, zone, token }: { booking: Consultation; service: string; zone: string; token: string }) {
  const t = text.specialist.history;
  const [open, setOpen] = useState(false);
  const minutes = Math.round((Date.parse(booking.ends_at) - Date.parse(booking.starts_at)) / 60_000);
  return (
    <li className="card" data-booking={booking.id}>
      <p>
        <strong>{format.dateTime(booking.starts_at, zone)}</strong> · {booking.client_name} ({booking.client_email})
      </p>
      <p>
        {service} · {t.booked(minutes)} · {text.manage.statuses[booking.status] ?? booking.status}
      </p>
      <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
        {t.details}
      </button>
      {open ? <Details bookingId={booking.id} token={token} /> : null}
    </li>
  );
}

function Details({ bookingId, token }: { bookingId: string; token: string }) {
  const t = text.specialist.history;
  const session = useVideoSession(bookingId, token);
  if (session.state === "loading") return <Loading />;
  if (session.state === "failed") return <p className="muted">{t.noSession}</p>;
  const s = session.value;
  return (
    <dl className="times">
      <dt>{t.duration}</dt>
      <dd>{s.duration_seconds === null ? t.notHeld : t.minutes(Math.round(s.duration_seconds / 60))}</dd>
      <dt>{t.recording}</dt>
      <dd>{s.recording_url ? <a href={s.recording_url}>{t.openRecording}</a> : t.noRecording}</dd>
      <dt>{t.notes}</dt>
      <dd className="notes-text">{s.notes ?? t.noNotes}</dd>
    </dl>
  );
}
