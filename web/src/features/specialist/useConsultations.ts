// The specialist's consultations from `from` on, kept current by polling: every POLL_MS
// the list is asked only for what changed since the largest `position` seen
// (`changed_after`). Polling, not server-sent events: the list is current whenever it
// is read (the booking service catches its query table up on each read), a poll is one
// indexed query, and it passes any proxy and survives a laptop's sleep, where a stream
// needs a cross-process fan-out the services do not have and proxies that don't buffer.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, bearer, ok, type Schemas } from "../../api/client";

export type Consultation = Schemas["BookingSummary"];

export const POLL_MS = 3000;

export function useConsultations(
  token: string,
  specialistId: string,
  from: string,
): {
  consultations: Consultation[] | null;
  error: unknown;
  arrived: Consultation[];
  refresh: () => void;
} {
  const [byId, setById] = useState<Map<string, Consultation> | null>(null);
  const [arrived, setArrived] = useState<Consultation[]>([]);
  const [error, setError] = useState<unknown>(null);
  const position = useRef<number | null>(null);
  const [round, setRound] = useState(0);

  const poll = useCallback(async () => {
    const seen = position.current;
    const answer = await ok(
      api.GET("/v1/bookings", {
        params: {
          query: {
            specialist_id: specialistId,
            from,
            ...(seen === null ? {} : { changed_after: seen }),
          },
        },
        headers: bearer(token),
      }),
    );
    for (const b of answer.bookings) position.current = Math.max(position.current ?? 0, b.position);
    if (position.current === null) position.current = 0;
    setById((before) => {
      const next = new Map(seen === null || before === null ? [] : before);
      const fresh = seen === null ? [] : answer.bookings.filter((b) => !next.has(b.id));
      for (const b of answer.bookings) next.set(b.id, b);
      if (fresh.length > 0) setArrived(fresh);
      return next;
    });
  }, [token, specialistId, from]);

  useEffect(() => {
    position.current = null;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const loop = async () => {
      try {
        await poll();
        if (!stopped) setError(null);
      } catch (failure) {
        if (!stopped) setError(failure);
      }
      if (!stopped) timer = setTimeout(() => void loop(), POLL_MS);
    };
    void loop();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [poll, round]);

  const consultations = byId === null ? null : [...byId.values()].sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  return { consultations, error, arrived, refresh: () => setRound((n) => n + 1) };
}
