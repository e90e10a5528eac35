// A booking, reached by its manage link: details and history, reschedule (fresh slots),
// cancel (the refund policy shown before confirming), and the way to the waiting room.
import { useState } from "react";
import { api, bearer, ok, type Booking, type Service, type Slot } from "../../api/client";
import { Link } from "../../app/router";
import { BookingGate } from "../../components/BookingGate";
import { Field } from "../../components/Field";
import { ErrorMessage } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { refundable } from "../../lib/calendar";
import { SlotPicker } from "../booking/SlotPicker";
import { useBookingDetails } from "./useBookingDetails";

const CHANGEABLE = new Set(["pending", "confirmed"]);

export default function ManagePage({ bookingId }: { bookingId: string }) {
  const { token, details, reload } = useBookingDetails(bookingId);
  const [mode, setMode] = useState<"view" | "reschedule" | "cancel">("view");
  const [notice, setNotice] = useState<string | null>(null);

  return (
    <BookingGate token={token} result={details} retry={reload}>
      {({ booking, service, specialist }) => {
        const zone = booking.client.timezone;
        const done = (message: string) => {
          setNotice(message);
          setMode("view");
          reload();
        };
        return (
          <section className="manage">
            <h1>{text.manage.title}</h1>
            {notice ? (
              <p className="success" role="status">
                {notice}
              </p>
            ) : null}
            <dl className="times">
              <dt>{text.manage.service}</dt>
              <dd>{service.name}</dd>
              <dt>{text.manage.specialist}</dt>
              <dd>{specialist.name}</dd>
              <dt>{text.manage.when}</dt>
              <dd>{format.dateTime(booking.starts_at, zone)}</dd>
              <dt>{text.manage.status}</dt>
              <dd className="booking-status">{text.manage.statuses[booking.status] ?? booking.status}</dd>
            </dl>
            <h2>{text.manage.history}</h2>
            <ol className="history">
              {booking.history.map((entry) => (
                <li key={`${entry.status}-${entry.at}`}>
                  {text.manage.statuses[entry.status] ?? entry.status} — {format.dateTime(entry.at, zone)}
                </li>
              ))}
            </ol>
            {CHANGEABLE.has(booking.status) ? (
              <>
                <div className="actions">
                  <Link href={`/bookings/${booking.id}/join`} className="button">
                    {text.manage.join}
                  </Link>
                  <button type="button" onClick={() => setMode("reschedule")} aria-expanded={mode === "reschedule"}>
                    {text.manage.reschedule}
                  </button>
                  <button type="button" onClick={() => setMode("cancel")} aria-expanded={mode === "cancel"}>
                    {text.manage.cancel}
                  </button>
                </div>
                {mode === "reschedule" ? (
                  <Reschedule booking={booking} service={service} token={token ?? ""} onDone={() => done(text.manage.rescheduled)} />
                ) : null}
                {mode === "cancel" ? (
                  <Cancel
                    booking={booking}
                    service={service}
                    token={token ?? ""}
                    onKeep={() => setMode("view")}
                    onDone={(refund) => done(text.manage.cancelled(refund))}
                  />
                ) : null}
              </>
            ) : (
              <p>{text.manage.closed}</p>
            )}
          </section>
        );
      }}
    </BookingGate>
  );
}

function Reschedule({
  booking,
  service,
  token,
  onDone,
}: {
  booking: Booking;
  service: Service;
  token: string;
  onDone: () => void;
}) {
  const zone = booking.client.timezone;
  const hour12 = format.prefers12h();
  const [slot, setSlot] = useState<Slot | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [version, setVersion] = useState(0);

  const move = async (to: Slot) => {
    setBusy(true);
    setFailure(null);
    try {
      await ok(
        api.POST("/v1/bookings/{booking_id}/reschedule", {
          params: { path: { booking_id: booking.id } },
          headers: bearer(token),
          body: { starts_at: to.start },
        }),
      );
      onDone();
    } catch (error) {
      setFailure(error);
      setSlot(null);
      setVersion((v) => v + 1);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="reschedule-title" className="panel">
      <h2 id="reschedule-title">{text.manage.rescheduleTitle}</h2>
      <SlotPicker service={service} zone={zone} hour12={hour12} selected={slot} onSelect={setSlot} version={version} />
      <div className="actions">
        {slot ? (
          <button type="button" className="primary" disabled={busy} onClick={() => void move(slot)}>
            {text.manage.rescheduleConfirm(format.dateTime(slot.start, zone, hour12))}
          </button>
        ) : null}
        <ErrorMessage error={failure} />
      </div>
    </section>
  );
}

function Cancel({
  booking,
  service,
  token,
  onKeep,
  onDone,
}: {
  booking: Booking;
  service: Service;
  token: string;
  onKeep: () => void;
  onDone: (refund: boolean) => void;
}) {
  const [reason, setReason] = useState("");
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const hours = service.cancellation_hours ?? 24;
  const refund = refundable(booking.starts_at, hours);

  const cancel = async () => {
    setBusy(true);
    setFailure(null);
    try {
      const result = await ok(
        api.POST("/v1/bookings/{booking_id}/cancel", {
          params: { path: { booking_id: booking.id } },
          headers: bearer(token),
          body: reason.trim() ? { reason: reason.trim() } : {},
        }),
      );
      onDone(result.refund_eligible);
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="cancel-title" className="panel">
      <h2 id="cancel-title">{text.manage.cancelTitle}</h2>
      <p className={refund ? "success" : "notice"} id="refund-policy">
        {refund ? text.manage.refundYes(hours) : text.manage.refundNo(hours)}
      </p>
      <Field label={text.manage.reason}>
        <textarea rows={2} value={reason} onChange={(e) => setReason(e.target.value)} />
      </Field>
      <div className="actions">
        <button type="button" className="danger" disabled={busy} onClick={() => void cancel()} aria-describedby="refund-policy">
          {text.manage.cancelConfirm}
        </button>
        <button type="button" onClick={onKeep}>
          {text.manage.keep}
        </button>
        <ErrorMessage error={failure} />
      </div>
    </section>
  );
}
