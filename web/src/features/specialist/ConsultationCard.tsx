// One consultation on the dashboard: who, what, when (in the specialist's zone), the
// intake answers and status, and what can be done with it now: approve or decline a
// request, join as host, mark it completed or the client absent (offered first when
// the video service suggests it), and write notes.
import { lazy, Suspense, useState, type ReactNode } from "react";
import { api, bearer, ok, type JoinGrant, type Service, type Session } from "../../api/client";
import { Field } from "../../components/Field";
import { ErrorMessage, Loading } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { Saved } from "./Saved";
import type { Consultation } from "./useConsultations";
import { useVideoSession } from "./useVideoSession";

const CallView = lazy(() => import("../waiting-room/CallView"));

// The video session matters from when its waiting room opens (default 10 minutes before).
const ROOM_OPENS_MS = 10 * 60_000;

export function ConsultationCard({
  booking,
  service,
  zone,
  token,
  now,
  onChanged,
}: {
  booking: Consultation;
  service: Service | undefined;
  zone: string;
  token: string;
  now: number;
  onChanged: () => void;
}) {
  const t = text.specialist.dashboard;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [declining, setDeclining] = useState(false);
  const [reason, setReason] = useState("");
  const [grant, setGrant] = useState<JoinGrant | null>(null);
  const path = { params: { path: { booking_id: booking.id } }, headers: bearer(token) };
  const act = async (call: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await call();
      onChanged();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const live = booking.status === "confirmed" || booking.status === "in_progress";
  const started = Date.parse(booking.starts_at) <= now;
  const roomOpen = Date.parse(booking.starts_at) - ROOM_OPENS_MS <= now;
  const headingId = `booking-${booking.id}`;
  return (
    <li className="card consultation" aria-labelledby={headingId} data-booking={booking.id}>
      <h3 id={headingId}>
        {format.time(booking.starts_at, zone, format.prefers12h())}–
        {format.time(booking.ends_at, zone, format.prefers12h())} · {booking.client_name}
      </h3>
      <p>
        {service?.name ?? t.unknownService} ·{" "}
        <span className={`badge ${booking.status}`}>{text.manage.statuses[booking.status] ?? booking.status}</span>
      </p>
      <p className="muted">
        {booking.client_email} · {booking.client_timezone}
      </p>
      {Object.keys(booking.answers).length > 0 ? (
        <dl className="answers">
          {Object.entries(booking.answers).map(([key, answer]) => (
            <div key={key}>
              <dt>{service?.questions?.find((q) => q.key === key)?.label ?? key}</dt>
              <dd>{answer}</dd>
            </div>
          ))}
        </dl>
      ) : null}
      {booking.notes ? <p className="muted">{t.clientNotes(booking.notes)}</p> : null}

      {booking.status === "pending" ? (
        declining ? (
          <form
            onSubmit={(event) => {
              event.preventDefault();
              void act(() =>
                ok(api.POST("/v1/bookings/{booking_id}/decline", { ...path, body: { reason: reason || null } })),
              );
            }}
          >
            <Field label={t.declineReason} hint={t.declineHint}>
              <textarea value={reason} onChange={(e) => setReason(e.target.value)} rows={2} />
            </Field>
            <div className="actions">
              <button className="danger" type="submit" disabled={busy}>
                {t.declineConfirm}
              </button>
              <button type="button" onClick={() => setDeclining(false)}>
                {t.keep}
              </button>
            </div>
          </form>
        ) : (
          <div className="actions">
            <button
              className="primary"
              type="button"
              disabled={busy}
              onClick={() => void act(() => ok(api.POST("/v1/bookings/{booking_id}/approve", path)))}
            >
              {t.approve}
            </button>
            <button type="button" disabled={busy} onClick={() => setDeclining(true)}>
              {t.decline}
            </button>
          </div>
        )
      ) : null}

      {live && roomOpen ? (
        <SessionPanel bookingId={booking.id} token={token} started={started} position={booking.position} now={now}>
          {(session) => (
            <>
              {session?.no_show_suggested === "client" ? (
                <p className="notice" role="status">
                  {t.noShowSuggested}
                </p>
              ) : null}
              <div className="actions">
                <button
                  className="primary"
                  type="button"
                  disabled={busy}
                  onClick={() =>
                    void act(async () =>
                      setGrant(await ok(api.POST("/v1/bookings/{booking_id}/join", path))),
                    )
                  }
                >
                  {t.join}
                </button>
                {started ? (
                  <>
                    <button
                      type="button"
                      disabled={busy}
                      onClick={() => void act(() => ok(api.POST("/v1/bookings/{booking_id}/complete", path)))}
                    >
                      {t.complete}
                    </button>
                    <button
                      type="button"
                      className={session?.no_show_suggested === "client" ? "danger" : undefined}
                      disabled={busy}
                      onClick={() =>
                        void act(() =>
                          ok(api.POST("/v1/bookings/{booking_id}/no-show", { ...path, body: { party: "client" } })),
                        )
                      }
                    >
                      {t.noShow}
                    </button>
                  </>
                ) : null}
              </div>
            </>
          )}
        </SessionPanel>
      ) : null}
      <ErrorMessage error={error} />
      {grant ? (
        <Suspense fallback={<Loading />}>
          <CallView grant={grant} onLeave={() => setGrant(null)} />
        </Suspense>
      ) : null}
      {live || booking.status === "completed" || booking.status === "no_show" ? (
        <Notes bookingId={booking.id} token={token} />
      ) : null}
    </li>
  );
}

function SessionPanel({
  bookingId,
  token,
  started,
  position,
  now,
  children,
}: {
  bookingId: string;
  token: string;
  started: boolean;
  position: number;
  now: number;
  children: (session: Session | null) => ReactNode;
}) {
  // Read again whenever the booking changes and, once started, with the dashboard's clock
  // (the no-show suggestion comes from the video service, some minutes in).
  const session = useVideoSession(bookingId, token, [started, position, started ? Math.floor(now / 15_000) : 0]);
  return <>{children(session.state === "done" ? session.value : null)}</>;
}

function Notes({ bookingId, token }: { bookingId: string; token: string }) {
  const t = text.specialist.dashboard;
  const [draft, setDraft] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const session = useVideoSession(bookingId, token);
  const stored = session.state === "done" ? (session.value.notes ?? "") : "";
  const save = async () => {
    setError(null);
    setSaved(false);
    try {
      await ok(
        api.PUT("/v1/bookings/{booking_id}/notes", {
          params: { path: { booking_id: bookingId } },
          headers: bearer(token),
          body: { notes: draft ?? stored },
        }),
      );
      setSaved(true);
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <details className="notes">
      <summary>{t.notes}</summary>
      <Field label={t.notes} hint={t.notesHint}>
        <textarea rows={4} value={draft ?? stored} onChange={(e) => setDraft(e.target.value)} />
      </Field>
      <div className="actions">
        <button type="button" onClick={() => void save()}>
          {t.saveNotes}
        </button>
        <Saved shown={saved} label={t.notesSaved} />
      </div>
      <ErrorMessage error={error} />
    </details>
  );
}
