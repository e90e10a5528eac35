// Before the call: the specialist, a live countdown to when the room opens (the video
// service's opens_at), a camera and microphone check, and "Enter room" once it is open.
// Entering asks the video service for a token and loads the call (LiveKit) only then.
import { lazy, Suspense, useEffect, useRef, useState } from "react";
import { ApiError, api, bearer, ok, type JoinGrant, type Session } from "../../api/client";
import { BookingGate } from "../../components/BookingGate";
import { ErrorMessage, Loading } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { split, until } from "../../lib/calendar";
import { useAsync, type Async } from "../../lib/useAsync";
import { useNow } from "../../lib/useNow";
import { useBookingDetails, type BookingDetails } from "../manage/useBookingDetails";

const CallView = lazy(() => import("./CallView"));

export default function WaitingRoomPage({ bookingId }: { bookingId: string }) {
  const { token, details, reload } = useBookingDetails(bookingId);
  const [session, reloadSession] = useAsync(async () => {
    if (token === null) throw new Error("no token");
    return ok(
      api.GET("/v1/bookings/{booking_id}/session", {
        params: { path: { booking_id: bookingId } },
        headers: bearer(token),
      }),
    );
  }, [bookingId, token]);
  const both: Async<BookingDetails & { session: Session }> =
    details.state === "done" && session.state === "done"
      ? { state: "done" as const, value: { ...details.value, session: session.value } }
      : details.state === "failed"
        ? details
        : session.state === "failed"
          ? session
          : { state: "loading" as const };
  return (
    <BookingGate
      token={token}
      result={both}
      retry={() => {
        reload();
        reloadSession();
      }}
    >
      {({ specialist, service, booking, session: room }) => (
        <Room
          bookingId={bookingId}
          token={token ?? ""}
          title={`${service.name} · ${format.dateTime(booking.starts_at, booking.client.timezone)}`}
          specialist={specialist.name}
          opensAt={room.opens_at}
          ended={room.state === "ended"}
          recording={room.recording}
        />
      )}
    </BookingGate>
  );
}

function Room({
  bookingId,
  token,
  title,
  specialist,
  opensAt,
  ended,
  recording,
}: {
  bookingId: string;
  token: string;
  title: string;
  specialist: string;
  opensAt: string;
  ended: boolean;
  recording: "off" | "optional" | "required";
}) {
  const now = useNow();
  const left = until(opensAt, now);
  const open = left === 0 && !ended;
  const [consent, setConsent] = useState(false);
  const [grant, setGrant] = useState<JoinGrant | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [visit, setVisit] = useState<{ joined: number; left: number } | null>(null);
  const joinedAt = useRef(0);

  const enter = async () => {
    setBusy(true);
    setFailure(null);
    try {
      if (recording !== "off") {
        await ok(
          api.POST("/v1/bookings/{booking_id}/recording-consent", {
            params: { path: { booking_id: bookingId } },
            headers: bearer(token),
            body: { consent },
          }),
        );
      }
      const granted = await ok(
        api.POST("/v1/bookings/{booking_id}/join", {
          params: { path: { booking_id: bookingId } },
          headers: bearer(token),
        }),
      );
      joinedAt.current = Date.now();
      setGrant(granted);
    } catch (error) {
      if (error instanceof ApiError && error.status === 425) setFailure(text.waiting.tooEarly);
      else if (error instanceof ApiError && error.status === 410) setFailure(text.waiting.gone);
      else setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  if (grant) {
    return (
      <Suspense fallback={<Loading label={text.waiting.entering} />}>
        <CallView
          grant={grant}
          onLeave={() => {
            setVisit({ joined: joinedAt.current, left: Date.now() });
            setGrant(null);
          }}
        />
      </Suspense>
    );
  }

  const { d, h, m, s } = split(left);
  return (
    <section className="waiting">
      <h1>{text.waiting.title}</h1>
      <p className="lead">{text.waiting.with(specialist)}</p>
      <p className="muted">{title}</p>
      {visit ? (
        <section className="panel" aria-labelledby="summary-title">
          <h2 id="summary-title">{text.waiting.summaryTitle}</h2>
          <p>{text.waiting.summary(Math.max(0, Math.round((visit.left - visit.joined) / 60_000)))}</p>
        </section>
      ) : null}
      {ended ? (
        <p>{text.waiting.ended}</p>
      ) : open ? (
        <p className="success" role="status">
          {text.waiting.open}
        </p>
      ) : (
        <p className="countdown">
          {text.waiting.opensIn}{" "}
          <time dateTime={opensAt} role="timer" aria-live="off">
            {text.waiting.countdown(d, h, m, s)}
          </time>
        </p>
      )}
      <DeviceCheck />
      {recording !== "off" ? (
        <label className="check">
          <input type="checkbox" checked={consent} onChange={(e) => setConsent(e.target.checked)} />
          {text.waiting.consent}
        </label>
      ) : null}
      <div className="actions">
        <button
          type="button"
          className="primary"
          disabled={!open || busy || (recording === "required" && !consent)}
          onClick={() => void enter()}
        >
          {busy ? text.waiting.entering : visit ? text.waiting.rejoin : text.waiting.enter}
        </button>
        <ErrorMessage error={failure} />
      </div>
    </section>
  );
}

function DeviceCheck() {
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<string>("idle");
  const stream = useRef<MediaStream | null>(null);
  useEffect(
    () => () => {
      for (const track of stream.current?.getTracks() ?? []) track.stop();
    },
    [],
  );
  const check = async () => {
    setState("checking");
    try {
      stream.current = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      if (video.current) video.current.srcObject = stream.current;
      setState("ok");
    } catch (error) {
      setState(error instanceof Error ? error.message : String(error));
    }
  };
  return (
    <section className="panel device-check" aria-labelledby="check-title">
      <h2 id="check-title">{text.waiting.check}</h2>
      <video ref={video} autoPlay muted playsInline aria-label={text.waiting.preview} hidden={state !== "ok"} />
      {state === "checking" ? <Loading label={text.waiting.checking} /> : null}
      {state === "ok" ? (
        <p className="success" role="status">
          {text.waiting.checkOk}
        </p>
      ) : null}
      {state !== "idle" && state !== "checking" && state !== "ok" ? (
        <ErrorMessage error={text.waiting.checkFailed(state)} />
      ) : null}
      <button type="button" onClick={() => void check()} disabled={state === "checking"}>
        {text.waiting.check}
      </button>
    </section>
  );
}
