// After booking: the time in both zones, "Add to calendar", the manage link, and whether
// the specialist still has to approve.
import { useState } from "react";
import { api, bearer, ok } from "../../api/client";
import { Link } from "../../app/router";
import { BookingGate } from "../../components/BookingGate";
import { ErrorMessage } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { googleCalendarLink } from "../../lib/calendar";
import { tokenLink } from "../../lib/token";
import { useBookingDetails } from "../manage/useBookingDetails";

export default function ConfirmationPage({ bookingId }: { bookingId: string }) {
  const { token, details, reload } = useBookingDetails(bookingId);
  const [icsError, setIcsError] = useState<unknown>(null);

  // The invite needs the token in a header, so it is fetched and handed over as a file.
  const downloadIcs = async (authorization: string) => {
    setIcsError(null);
    try {
      const blob = await ok(
        api.GET("/v1/bookings/{booking_id}/invite.ics", {
          params: { path: { booking_id: bookingId } },
          headers: bearer(authorization),
          parseAs: "blob",
        }),
      );
      const url = URL.createObjectURL(blob);
      const anchor = document.createElement("a");
      anchor.href = url;
      anchor.download = `consultation-${bookingId}.ics`;
      anchor.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (error) {
      setIcsError(error);
    }
  };

  return (
    <BookingGate token={token} result={details} retry={reload}>
      {({ booking, service, specialist, specialists }) => {
        const pending = booking.status === "pending";
        const people = format.list(specialists.map((s) => s.name));
        const manage = tokenLink(`/bookings/${booking.id}`, token ?? "");
        return (
          <section className="confirmation">
            <h1>{pending ? text.confirmation.pendingTitle : text.confirmation.title}</h1>
            <p className={pending ? "notice" : "success"} role="status">
              {pending ? text.confirmation.pending : text.confirmation.confirmed}
            </p>
            <h2>{`${service.name} · ${people}`}</h2>
            {service.assignment ? (
              <p className="assigned">
                {service.assignment === "collective"
                  ? text.confirmation.withTeam(people)
                  : text.confirmation.assigned(specialist.name)}
              </p>
            ) : null}
            <dl className="times">
              <dt>{text.confirmation.yourTime(booking.client.timezone)}</dt>
              <dd>{format.dateTime(booking.starts_at, booking.client.timezone)}</dd>
              <dt>{text.confirmation.theirTime(specialist.timezone)}</dt>
              <dd>{format.dateTime(booking.starts_at, specialist.timezone)}</dd>
            </dl>
            <h2>{text.confirmation.addToCalendar}</h2>
            <div className="actions">
              <button type="button" onClick={() => void downloadIcs(token ?? "")}>
                {text.confirmation.ics}
              </button>
              <a
                className="button"
                // The event's link has no token: nothing secret goes to a third party.
                href={googleCalendarLink(`${service.name} · ${specialist.name}`, booking.starts_at, booking.ends_at, `${globalThis.location.origin}/bookings/${booking.id}`)}
                target="_blank"
                rel="noopener noreferrer"
              >
                {text.confirmation.google}
              </a>
              <ErrorMessage error={icsError} />
            </div>
            <h2>{text.confirmation.manage}</h2>
            <p>{text.confirmation.manageHint}</p>
            <p>
              <a href={manage} className="manage-link">
                {text.confirmation.manage}
              </a>
            </p>
            {pending ? null : (
              <p>
                <Link href={`/bookings/${booking.id}/join`}>{text.confirmation.join}</Link>
              </p>
            )}
          </section>
        );
      }}
    </BookingGate>
  );
}
