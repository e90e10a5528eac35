// A booking with its service and specialist, read with the booking's manage token.
import { useState } from "react";
import { api, bearer, ok, type Booking, type Service, type Specialist } from "../../api/client";
import { manageToken } from "../../lib/token";
import { useAsync, type Async } from "../../lib/useAsync";

export interface BookingDetails {
  booking: Booking;
  service: Service;
  specialist: Specialist;
  /** Everyone whose time it holds: a collective team booking's members, else the one. */
  specialists: Specialist[];
}

export function useBookingDetails(bookingId: string): {
  token: string | null;
  details: Async<BookingDetails>;
  reload: () => void;
} {
  const [token] = useState(() => manageToken(bookingId));
  const [details, reload] = useAsync(async () => {
    if (token === null) throw new Error("no token");
    const booking = await ok(
      api.GET("/v1/bookings/{booking_id}", {
        params: { path: { booking_id: bookingId } },
        headers: bearer(token),
      }),
    );
    const ids = booking.specialist_ids?.length ? booking.specialist_ids : [booking.specialist_id];
    const [service, specialists] = await Promise.all([
      ok(api.GET("/v1/services/{service_id}", { params: { path: { service_id: booking.service_id } } })),
      Promise.all(
        ids.map((id) =>
          ok(api.GET("/v1/specialists/{specialist_id}", { params: { path: { specialist_id: id } } })),
        ),
      ),
    ]);
    const specialist = specialists.find((s) => s.id === booking.specialist_id) ?? specialists[0];
    if (specialist === undefined) throw new Error("a booking without a specialist");
    return { booking, service, specialist, specialists };
  }, [bookingId, token]);
  return { token, details, reload };
}
