import { api, bearer, ok, type Session } from "../../api/client";
import { useAsync, type Async } from "../../lib/useAsync";

/** A booking's video session as its specialist sees it (notes, recording, the no-show
 * suggestion), read again whenever one of `deps` changes. */
export function useVideoSession(bookingId: string, token: string, deps: readonly unknown[] = []): Async<Session> {
  const [session] = useAsync(
    () =>
      ok(
        api.GET("/v1/bookings/{booking_id}/session", {
          params: { path: { booking_id: bookingId } },
          headers: bearer(token),
        }),
      ),
    [bookingId, token, ...deps],
  );
  return session;
}
