// A booking with its service and specialist, read with the booking's manage token.
import { useState } from "react";
import { api, bearer, ok, type Booking, type Service, type Specialist } from "../../api/client";
import { manageToken } from "../../lib/token";
import { useAsync, type Async } from "../../lib/useAsync";

export interface BookingDetails {
  booking: Booking;
  service: Service;
  specialist: Specialist;
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
    const [service, specialist] = await Promise.all([
      ok(api.GET("/v1/services/{service_id}", { params: { path: { service_id: booking.service_id } } })),
      ok(
        api.GET("/v1/specialists/{specialist_id}", {
          params: { path: { specialist_id: booking.specialist_id } },
        }),
      ),
    ]);
    return { booking, service, specialist };
  }, [bookingId, token]);
  return { token, details, reload };
}
