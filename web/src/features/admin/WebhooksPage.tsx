// The admin's webhook endpoints: register one (its signing secret shown once), list and
// delete them, and follow each one's deliveries (state, attempts, last answer, next try),
// re-sending one on demand.
import { useState } from "react";
import { api, fieldErrors, ok, type Schemas, type Subscription } from "../../api/client";
import { Field } from "../../components/Field";
import { ErrorMessage, Failed, Loading } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { useAsync, useLatest } from "../../lib/useAsync";
import { useSubmit } from "../../lib/useSubmit";
import { AdminOnly } from "./AdminOnly";
import { Deliveries } from "./Deliveries";

type EventType = Schemas["SubscriptionCreate"]["events"][number];
/** The booking lifecycle events one can pick; the type check below fails when the API
 * adds one that is not listed here (make web-api). */
const EVENT_TYPES = [
  "SlotRequested",
  "BookingPending",
  "BookingConfirmed",
  "BookingDeclined",
  "BookingRescheduled",
  "BookingReassigned",
  "BookingCancelled",
  "BookingStarted",
  "BookingCompleted",
  "NoShowMarked",
] as const satisfies readonly EventType[];
const everyTypeListed: Exclude<EventType, "*" | (typeof EVENT_TYPES)[number]> extends never ? true : never = true;
void everyTypeListed;

type Auth = { Authorization: string };

export default function WebhooksPage() {
  return <AdminOnly>{(auth) => <Webhooks auth={auth} />}</AdminOnly>;
}

function Webhooks({ auth }: { auth: Auth }) {
  const t = text.admin.webhooks;
  const [loaded, reload] = useAsync(() => ok(api.GET("/v1/webhooks/subscriptions", { headers: auth })), []);
  const latest = useLatest(loaded);
  const [secret, setSecret] = useState<string | null>(null);
  return (
    <section>
      <h1>{t.title}</h1>
      <p>{t.intro}</p>
      <section className="panel" aria-labelledby="register-title">
        <h2 id="register-title">{t.register}</h2>
        <RegisterForm
          auth={auth}
          onCreated={(created) => {
            setSecret(created);
            reload();
          }}
        />
        {secret !== null ? <SecretOnce secret={secret} /> : null}
      </section>
      <h2>{t.subscriptions}</h2>
      {loaded.state === "failed" ? <Failed error={loaded.error} retry={reload} /> : null}
      {latest === null ? (
        loaded.state === "loading" ? <Loading /> : null
      ) : latest.subscriptions.length === 0 ? (
        <p>{t.none}</p>
      ) : (
        latest.subscriptions.map((subscription) => (
          <SubscriptionPanel key={subscription.id} auth={auth} subscription={subscription} onDeleted={reload} />
        ))
      )}
    </section>
  );
}

function RegisterForm({ auth, onCreated }: { auth: Auth; onCreated: (secret: string) => void }) {
  const t = text.admin.webhooks;
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [all, setAll] = useState(true);
  const [chosen, setChosen] = useState<Set<EventType>>(new Set());
  const { submit, busy, error } = useSubmit(async () => {
    const body = {
      url: url.trim(),
      events: all ? (["*"] as EventType[]) : EVENT_TYPES.filter((type) => chosen.has(type)),
      ...(description.trim() ? { description: description.trim() } : {}),
    };
    const created = await ok(api.POST("/v1/webhooks/subscriptions", { body, headers: auth }));
    setUrl("");
    setDescription("");
    onCreated(created.secret);
  });
  const fields = fieldErrors(error);
  const toggle = (type: EventType, on: boolean) => {
    const next = new Set(chosen);
    if (on) next.add(type);
    else next.delete(type);
    setChosen(next);
  };
  return (
    <form onSubmit={submit} noValidate>
      <Field label={t.url} hint={t.urlHint} required error={fields["url"]}>
        <input type="url" inputMode="url" autoComplete="off" value={url} onChange={(e) => setUrl(e.target.value)} />
      </Field>
      <Field label={t.description} error={fields["description"]}>
        <input type="text" value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <fieldset>
        <legend>{t.events}</legend>
        <label className="check">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} />
          {t.allEvents}
        </label>
        {all
          ? null
          : EVENT_TYPES.map((type) => (
              <label key={type} className="check">
                <input type="checkbox" checked={chosen.has(type)} onChange={(e) => toggle(type, e.target.checked)} />
                {type}
              </label>
            ))}
        {fields["events"] ? <p className="error">{fields["events"]}</p> : null}
      </fieldset>
      {fields["url"] || fields["events"] || fields["description"] ? null : <ErrorMessage error={error} />}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {t.submit}
        </button>
      </div>
    </form>
  );
}

/** The new endpoint's signing secret: the only time the API gives it. */
function SecretOnce({ secret }: { secret: string }) {
  const t = text.admin.webhooks;
  const [copied, setCopied] = useState<boolean | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied(true);
    } catch {
      // No clipboard (permission refused): the field is selected for a manual copy.
      (document.getElementById("webhook-secret") as HTMLInputElement | null)?.select();
      setCopied(false);
    }
  };
  return (
    <div className="secret" role="status">
      <p className="notice">{t.secretOnce}</p>
      <Field label={t.secretTitle}>
        <input id="webhook-secret" type="text" readOnly value={secret} onFocus={(e) => e.target.select()} />
      </Field>
      <div className="actions">
        <button type="button" onClick={() => void copy()}>
          {t.copy}
        </button>
        {copied ? <span className="success">{t.copied}</span> : null}
      </div>
    </div>
  );
}

function SubscriptionPanel({
  auth,
  subscription,
  onDeleted,
}: {
  auth: Auth;
  subscription: Subscription;
  onDeleted: () => void;
}) {
  const t = text.admin.webhooks;
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const remove = async () => {
    setError(null);
    try {
      await ok(
        api.DELETE("/v1/webhooks/subscriptions/{subscription_id}", {
          params: { path: { subscription_id: subscription.id } },
          headers: auth,
        }),
      );
      onDeleted();
    } catch (failure) {
      setError(failure);
    }
  };
  const headingId = `subscription-${subscription.id}`;
  const zone = format.browserZone();
  return (
    <section className="panel subscription" aria-labelledby={headingId}>
      <h3 id={headingId} className="url">
        {subscription.url}
      </h3>
      {subscription.description ? <p>{subscription.description}</p> : null}
      <dl className="times">
        <dt>{t.events}</dt>
        <dd>{subscription.events.includes("*") ? t.allEvents : subscription.events.join(", ")}</dd>
        <dt>{t.state}</dt>
        <dd>
          {t.states[subscription.state] ?? subscription.state}
          {subscription.failing_since ? ` · ${t.failingSince(format.dateTime(subscription.failing_since, zone))}` : ""}
        </dd>
      </dl>
      <div className="actions">
        {confirming ? (
          <>
            <span>{t.confirmRemove(subscription.url)}</span>
            <button type="button" className="danger" onClick={() => void remove()}>
              {t.remove(subscription.url)}
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              {t.keep}
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setConfirming(true)}>
            {t.remove(subscription.url)}
          </button>
        )}
        <ErrorMessage error={error} />
      </div>
      <Deliveries auth={auth} subscription={subscription} />
    </section>
  );
}
