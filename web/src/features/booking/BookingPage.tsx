// A specialist's public booking page: service, day and time in the viewer's zone, then
// the client's details, booked in one step. `embedded` is the same page for an iframe
// on another site (no site navigation).
import { useState } from "react";
import { api, ok, type Service, type Slot } from "../../api/client";
import { navigate, useLocation } from "../../app/router";
import { Failed, Loading } from "../../components/Status";
import { TimeZoneField } from "../../components/TimeZoneField";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { keepToken } from "../../lib/token";
import { useAsync } from "../../lib/useAsync";
import { BookingForm } from "./BookingForm";
import { SlotPicker } from "./SlotPicker";

export function BookingPage({ specialistId, embedded = false }: { specialistId: string; embedded?: boolean }) {
  const { search } = useLocation();
  const [page, reload] = useAsync(
    () =>
      Promise.all([
        ok(api.GET("/v1/specialists/{specialist_id}", { params: { path: { specialist_id: specialistId } } })),
        ok(api.GET("/v1/services", { params: { query: { specialist_id: specialistId } } })),
      ]),
    [specialistId],
  );
  if (page.state === "loading") return <Loading />;
  if (page.state === "failed") {
    return (
      <Failed error={page.error} retry={reload} />
    );
  }
  const [specialist, { services }] = page.value;
  return (
    <section className="booking">
      <h1>{text.booking.title(specialist.name)}</h1>
      {specialist.specialty ? <p className="muted">{specialist.specialty}</p> : null}
      {services.length === 0 ? (
        <p>{text.booking.noServices}</p>
      ) : (
        <Booking services={services} preselected={search.get("service")} embedded={embedded} />
      )}
      {embedded ? null : <EmbedSnippet specialistId={specialist.id} name={specialist.name} />}
    </section>
  );
}

/** Choosing a service, a time and booking it: a specialist's page, or a team's. */
export function Booking({ services, preselected, embedded }: { services: Service[]; preselected: string | null; embedded: boolean }) {
  const [serviceId, setServiceId] = useState(
    services.find((s) => s.id === preselected)?.id ?? services[0]?.id ?? "",
  );
  const service = services.find((s) => s.id === serviceId) ?? services[0];
  const [zone, setZone] = useState(format.browserZone);
  const [hour12, setHour12] = useState(format.prefers12h);
  const [slot, setSlot] = useState<Slot | null>(null);
  const [version, setVersion] = useState(0);
  const [taken, setTaken] = useState<string | null>(null);
  if (!service) return null;

  return (
    <>
      <fieldset className="services">
        <legend>{text.booking.services}</legend>
        {services.map((s) => (
          <label key={s.id} className="service">
            <input
              type="radio"
              name="service"
              value={s.id}
              checked={s.id === service.id}
              onChange={() => {
                setServiceId(s.id);
                setSlot(null);
              }}
            />
            <span className="service-name">{s.name}</span>
            <span className="muted">
              {text.booking.minutes(s.duration_minutes)} ·{" "}
              {s.price ? format.money(s.price, s.currency) : text.booking.free}
              {s.requires_approval ? ` · ${text.booking.approval}` : ""}
              {s.assignment ? ` · ${text.teams.assignment[s.assignment] ?? ""}` : ""}
            </span>
          </label>
        ))}
      </fieldset>
      <div className="view-options">
        <TimeZoneField
          label={text.booking.timezone}
          hint={text.booking.timezoneHint}
          value={zone}
          onChange={(z) => {
            setZone(z);
            setSlot(null);
          }}
        />
        <label className="check">
          <input type="checkbox" checked={!hour12} onChange={(e) => setHour12(!e.target.checked)} />
          {text.booking.hour24}
        </label>
      </div>
      {taken ? (
        <p className="error" role="alert">
          {taken}
        </p>
      ) : null}
      <SlotPicker
        service={service}
        zone={zone}
        hour12={hour12}
        selected={slot}
        version={version}
        onSelect={(s) => {
          setSlot(s);
          if (s) setTaken(null);
        }}
      />
      {slot ? (
        <BookingForm
          key={slot.start}
          service={service}
          slot={slot}
          zone={zone}
          hour12={hour12}
          onBooked={(booking) => {
            keepToken(booking.id, booking.manage_token);
            const path = `/bookings/${booking.id}/confirmation`;
            // In an iframe, the confirmation opens in the same frame.
            navigate(embedded ? `${path}?embedded=1` : path);
          }}
          onTaken={(message) => {
            setTaken(message);
            setSlot(null);
            setVersion((v) => v + 1);
          }}
        />
      ) : null}
    </>
  );
}

function EmbedSnippet({ specialistId, name }: { specialistId: string; name: string }) {
  const snippet = `<iframe src="${globalThis.location.origin}/embed/${specialistId}" title="${text.booking.embedFrameTitle(name)}" width="100%" height="900" style="border:0"></iframe>`;
  return (
    <details className="embed">
      <summary>{text.booking.embedTitle}</summary>
      <label>
        {text.booking.embedHint}
        <textarea readOnly rows={3} value={snippet} onFocus={(e) => e.target.select()} />
      </label>
    </details>
  );
}
