// Calendar connections: Google and Outlook through their consent (the API gives the
// consent's address to this page, which holds the JWT), CalDAV with its credentials
// (checked by the server first), each connection's state, last sync and error. The
// consent ends back here: `?connected=<id>` names the new connection, `?failed=<code>`
// says why there is none. A new connection's calendar is read after it is connected:
// until that read is done the list is asked again every few seconds.
import { useEffect, useState, type FormEvent } from "react";
import { api, fieldErrors, ok } from "../../api/client";
import { useLocation } from "../../app/router";
import { Field } from "../../components/Field";
import { ErrorMessage, Loading } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { useAsync, useLatest } from "../../lib/useAsync";
import { SignedIn, type Workspace } from "./SignedIn";

/** How often, and how many times at most, the list is asked again while a connection's
 * first read is running (a read that fails is the server's poller's, minutes later). */
const READ_POLL_MS = 2000;
const READ_POLLS = 30;

export default function CalendarsPage() {
  return <SignedIn>{(workspace) => <Calendars {...workspace} />}</SignedIn>;
}

function Calendars({ session, auth, specialist }: Workspace) {
  const t = text.specialist.calendars;
  const id = session.specialistId;
  const [list, reload] = useAsync(
    () => ok(api.GET("/v1/specialists/{specialist_id}/calendars", { params: { path: { specialist_id: id } }, headers: auth })),
    [id, session.token],
  );
  const calendars = useLatest(list)?.calendars;
  const reading = calendars?.some((c) => c.status === "active" && !c.last_sync_at) ?? false;
  const [asked, setAsked] = useState(0);
  useEffect(() => {
    if (!reading || list.state !== "done" || asked >= READ_POLLS) return;
    const again = setTimeout(() => {
      setAsked((n) => n + 1);
      reload();
    }, READ_POLL_MS);
    return () => clearTimeout(again);
  }, [reading, list, asked, reload]);
  const [error, setError] = useState<unknown>(null);
  const { search } = useLocation();
  const connectedId = search.get("connected");
  const failed = search.get("failed");
  const connected = calendars?.find((c) => c.id === connectedId);
  const connect = async (provider: "google" | "microsoft") => {
    setError(null);
    try {
      const { url } = await ok(
        api.GET("/v1/calendars/{provider}/connect", {
          params: { path: { provider }, query: { specialist_id: id } },
          headers: { ...auth, Accept: "application/json" },
        }),
      );
      globalThis.location.assign(url);
    } catch (failure) {
      setError(failure);
    }
  };
  const disconnect = async (connectionId: string) => {
    setError(null);
    try {
      await ok(api.DELETE("/v1/calendars/{connection_id}", { params: { path: { connection_id: connectionId } }, headers: auth }));
      reload();
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <section>
      <h1>{t.title}</h1>
      <div className="actions">
        <button type="button" onClick={() => void connect("google")}>
          {t.connect("Google")}
        </button>
        <button type="button" onClick={() => void connect("microsoft")}>
          {t.connect("Outlook")}
        </button>
      </div>
      {connected ? (
        <p className="status" role="status">
          {t.connectedNow(`${t.providers[connected.provider] ?? connected.provider}: ${connected.calendar_name ?? connected.account}`)}
        </p>
      ) : null}
      <ErrorMessage error={failed ? (t.consentFailed[failed] ?? t.consentFailedOther) : null} />
      <ErrorMessage error={error} />
      {!calendars && list.state === "loading" ? <Loading /> : null}
      {list.state === "failed" ? <ErrorMessage error={list.error} /> : null}
      {calendars ? (
        calendars.length === 0 ? (
          <p>{t.none}</p>
        ) : (
          <ul className="cards">
            {calendars.map((c) => (
              <li key={c.id} className="card">
                <h2>
                  {t.providers[c.provider] ?? c.provider}: {c.calendar_name ?? c.account}
                </h2>
                <p>
                  {t.status[c.status] ?? c.status}
                  {c.last_sync_at
                    ? ` · ${t.lastSync(format.dateTime(c.last_sync_at, specialist.timezone))}`
                    : c.status === "active"
                      ? ` · ${t.firstRead}`
                      : ""}
                </p>
                {c.error ? <p className="error">{t.failed(c.error)}</p> : null}
                {c.status !== "disconnected" ? (
                  <button type="button" onClick={() => void disconnect(c.id)}>
                    {t.disconnect(c.calendar_name ?? c.account)}
                  </button>
                ) : null}
              </li>
            ))}
          </ul>
        )
      ) : null}
      <CalDav
        auth={auth}
        specialistId={id}
        onConnected={() => {
          setAsked(0);
          reload();
        }}
      />
    </section>
  );
}

function CalDav({
  auth,
  specialistId,
  onConnected,
}: {
  auth: Workspace["auth"];
  specialistId: string;
  onConnected: () => void;
}) {
  const t = text.specialist.calendars;
  const [form, setForm] = useState({ url: "", username: "", password: "" });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await ok(
        api.POST("/v1/calendars/caldav", {
          headers: auth,
          body: { specialist_id: specialistId, ...form },
        }),
      );
      setForm({ url: "", username: "", password: "" });
      onConnected();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const errors = fieldErrors(error);
  return (
    <form className="panel" onSubmit={(event) => void submit(event)} noValidate aria-labelledby="caldav-title">
      <h2 id="caldav-title">{t.caldav}</h2>
      <Field label={t.url} error={errors["url"]} required>
        <input type="url" value={form.url} onChange={(e) => setForm({ ...form, url: e.target.value })} />
      </Field>
      <Field label={t.username} error={errors["username"]} required>
        <input autoComplete="username" value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} />
      </Field>
      <Field label={t.password} error={errors["password"]} required>
        <input
          type="password"
          autoComplete="current-password"
          value={form.password}
          onChange={(e) => setForm({ ...form, password: e.target.value })}
        />
      </Field>
      {Object.keys(errors).length > 0 ? null : <ErrorMessage error={error} />}
      <div className="actions">
        <button className="primary" type="submit" disabled={busy}>
          {t.connectCaldav}
        </button>
      </div>
    </form>
  );
}
