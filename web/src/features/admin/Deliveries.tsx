// One endpoint's deliveries, newest first: each one's state, attempts, the receiver's last
// answer and the next try; a delivery can be sent again (same Kairos-Delivery id).
import { useState } from "react";
import { api, ok, type Delivery, type Subscription } from "../../api/client";
import { ErrorMessage, Failed, Loading } from "../../components/Status";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { useAsync, useLatest } from "../../lib/useAsync";

export function Deliveries({ auth, subscription }: { auth: { Authorization: string }; subscription: Subscription }) {
  const t = text.admin.webhooks;
  const [loaded, reload] = useAsync(
    () =>
      ok(
        api.GET("/v1/webhooks/subscriptions/{subscription_id}/deliveries", {
          params: { path: { subscription_id: subscription.id } },
          headers: auth,
        }),
      ),
    [subscription.id],
  );
  const latest = useLatest(loaded);
  const [notice, setNotice] = useState<unknown>(null);
  const titleId = `deliveries-${subscription.id}`;
  return (
    <section aria-labelledby={titleId}>
      <div className="month-bar">
        <h4 id={titleId}>{t.deliveries(subscription.url)}</h4>
        <button type="button" onClick={reload}>
          {t.refresh}
        </button>
      </div>
      {notice === true ? (
        <p className="success" role="status">
          {t.resent}
        </p>
      ) : (
        <ErrorMessage error={notice} />
      )}
      {loaded.state === "failed" ? <Failed error={loaded.error} retry={reload} /> : null}
      {latest === null ? (
        loaded.state === "loading" ? <Loading /> : null
      ) : latest.deliveries.length === 0 ? (
        <p>{t.noDeliveries}</p>
      ) : (
        <ul className="plain deliveries">
          {latest.deliveries.map((delivery) => (
            <DeliveryItem
              key={delivery.id}
              auth={auth}
              delivery={delivery}
              onResent={(outcome) => {
                setNotice(outcome);
                reload();
              }}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function DeliveryItem({
  auth,
  delivery,
  onResent,
}: {
  auth: { Authorization: string };
  delivery: Delivery;
  onResent: (outcome: unknown) => void;
}) {
  const t = text.admin.webhooks;
  const zone = format.browserZone();
  const resend = async () => {
    try {
      await ok(
        api.POST("/v1/webhooks/deliveries/{delivery_id}/resend", {
          params: { path: { delivery_id: delivery.id } },
          headers: auth,
        }),
      );
      onResent(true);
    } catch (failure) {
      onResent(failure);
    }
  };
  return (
    <li className="delivery" data-delivery={delivery.id}>
      <dl className="times">
        <dt>{t.type}</dt>
        <dd>{delivery.type}</dd>
        <dt>{t.deliveryState}</dt>
        <dd className="delivery-state">{t.deliveryStates[delivery.state] ?? delivery.state}</dd>
        <dt>{t.attempts}</dt>
        <dd className="delivery-attempts">{delivery.attempts}</dd>
        <dt>{t.lastStatus}</dt>
        <dd>{delivery.last_status ?? delivery.last_error ?? t.never}</dd>
        <dt>{t.nextAttempt}</dt>
        <dd>{delivery.next_attempt_at ? format.dateTime(delivery.next_attempt_at, zone) : t.never}</dd>
      </dl>
      <button type="button" onClick={() => void resend()}>
        {t.resend(delivery.type)}
      </button>
    </li>
  );
}
