// Weekly hours (several windows a day), days off and extra hours on given dates, and the
// time zone. The API validates windows (overlapping or inverted ones are refused) and its
// message is shown where the change was made. The free slots of a service under the hours
// as edited, before they are saved, are the booking service's preview (POST
// …/schedule/preview): the slot rules are the server's, never computed here.
import { useState, type FormEvent } from "react";
import { api, ok, type Schemas } from "../../api/client";
import { Field } from "../../components/Field";
import { ErrorMessage, Loading } from "../../components/Status";
import { TimeZoneField } from "../../components/TimeZoneField";
import { WeekdayHead } from "../../components/WeekdayHead";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { addDays, monthGrid, monthOf, shiftMonth, today, type Month } from "../../lib/calendar";
import { useAsync } from "../../lib/useAsync";
import { useDebounced } from "../../lib/useDebounced";
import { Saved } from "./Saved";
import { SignedIn, type Workspace } from "./SignedIn";

type Window = { start: string; end: string };

export default function SchedulePage() {
  return <SignedIn>{(workspace) => <Schedule {...workspace} />}</SignedIn>;
}

function weeklyOf(specialist: Schemas["SpecialistPublic"]): Window[][] {
  const days: Window[][] = Array.from({ length: 7 }, () => []);
  for (const w of specialist.weekly ?? []) days[w.day]?.push({ start: w.start, end: w.end });
  return days;
}

function scheduleBody(zone: string, weekly: Window[][]) {
  return { timezone: zone, weekly: weekly.flatMap((windows, day) => windows.map((w) => ({ day, ...w }))) };
}

function Schedule({ session, auth, specialist, services, reload }: Workspace) {
  const t = text.specialist.schedule;
  const [zone, setZone] = useState(specialist.timezone);
  const [weekly, setWeekly] = useState(() => weeklyOf(specialist));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<number | null>(null);
  const names = format.weekdays();
  const path = { params: { path: { specialist_id: session.specialistId } }, headers: auth };

  const edit = (day: number, change: (windows: Window[]) => Window[]) =>
    setWeekly((days) => days.map((windows, d) => (d === day ? change(windows) : windows)));
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setSaved(null);
    try {
      const body = scheduleBody(zone, weekly);
      const changed = await ok(api.PUT("/v1/specialists/{specialist_id}/schedule", { ...path, body }));
      setSaved(changed.notification_id ?? 0);
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <section>
      <h1>{t.title}</h1>
      <form onSubmit={(event) => void save(event)} noValidate aria-labelledby="weekly-title">
        <h2 id="weekly-title">{t.weekly}</h2>
        <TimeZoneField label={t.zone} value={zone} onChange={setZone} />
        {weekly.map((windows, day) => (
          <fieldset key={day} className="weekday">
            <legend>{names[day]}</legend>
            {windows.length === 0 ? <p className="muted">{t.closed}</p> : null}
            {windows.map((w, i) => (
              <div className="window" key={i}>
                <Field label={t.from(names[day] ?? "", i + 1)}>
                  <input
                    inputMode="numeric"
                    placeholder="09:00"
                    value={w.start}
                    onChange={(e) => edit(day, (ws) => ws.map((x, j) => (j === i ? { ...x, start: e.target.value } : x)))}
                  />
                </Field>
                <Field label={t.until(names[day] ?? "", i + 1)}>
                  <input
                    inputMode="numeric"
                    placeholder="17:00"
                    value={w.end}
                    onChange={(e) => edit(day, (ws) => ws.map((x, j) => (j === i ? { ...x, end: e.target.value } : x)))}
                  />
                </Field>
                <button type="button" onClick={() => edit(day, (ws) => ws.filter((_, j) => j !== i))}>
                  {t.remove(names[day] ?? "", i + 1)}
                </button>
              </div>
            ))}
            <button type="button" onClick={() => edit(day, (ws) => [...ws, { start: "09:00", end: "17:00" }])}>
              {t.add(names[day] ?? "")}
            </button>
          </fieldset>
        ))}
        <ErrorMessage error={error} />
        <div className="actions">
          <button className="primary" type="submit">
            {t.save}
          </button>
          <Saved shown={saved !== null} label={t.saved} />
        </div>
      </form>
      <Overrides workspace={{ session, auth, specialist, services, reload }} onSaved={setSaved} />
      <Preview workspace={{ session, auth, specialist, services, reload }} zone={zone} weekly={weekly} round={saved} />
    </section>
  );
}

function Overrides({ workspace, onSaved }: { workspace: Workspace; onSaved: (position: number) => void }) {
  const t = text.specialist.schedule;
  const { session, auth, specialist } = workspace;
  const [overrides, setOverrides] = useState(specialist.overrides ?? []);
  const [month, setMonth] = useState<Month>(() => monthOf(today(specialist.timezone)));
  const [date, setDate] = useState("");
  const [blocked, setBlocked] = useState(true);
  const [hours, setHours] = useState<Window>({ start: "09:00", end: "12:00" });
  const [error, setError] = useState<unknown>(null);
  const byDate = new Map(overrides.map((o) => [o.date, o]));
  const path = (day: string) => ({
    params: { path: { specialist_id: session.specialistId, day } },
    headers: auth,
  });
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const body = blocked ? { blocked: true } : { blocked: false, windows: [hours] };
      const changed = await ok(api.PUT("/v1/specialists/{specialist_id}/overrides/{day}", { ...path(date), body }));
      setOverrides((list) => [...list.filter((o) => o.date !== date), changed].sort((a, b) => a.date.localeCompare(b.date)));
      onSaved(changed.notification_id ?? 0);
    } catch (failure) {
      setError(failure);
    }
  };
  const clear = async (day: string) => {
    setError(null);
    try {
      const { response } = await api.DELETE("/v1/specialists/{specialist_id}/overrides/{day}", path(day));
      if (!response.ok) throw new Error(response.statusText);
      setOverrides((list) => list.filter((o) => o.date !== day));
      onSaved(Number(response.headers.get("Kairos-Notification-Id") ?? 0));
    } catch (failure) {
      setError(failure);
    }
  };
  const describeOverride = (o: (typeof overrides)[number]) =>
    o.blocked ? t.dayOff : o.windows.map((w) => `${w.start}–${w.end}`).join(", ");
  return (
    <section aria-labelledby="overrides-title" className="panel">
      <h2 id="overrides-title">{t.overrides}</h2>
      <div className="month-bar">
        <button type="button" onClick={() => setMonth((m) => shiftMonth(m, -1))} aria-label={text.booking.previousMonth}>
          ‹
        </button>
        <h3>{format.monthTitle(month.year, month.month)}</h3>
        <button type="button" onClick={() => setMonth((m) => shiftMonth(m, 1))} aria-label={text.booking.nextMonth}>
          ›
        </button>
      </div>
      <table className="month overrides-month">
        <WeekdayHead />
        <tbody>
          {monthGrid(month).map((week, w) => (
            <tr key={w}>
              {week.map((cell, d) => {
                const o = cell ? byDate.get(cell) : undefined;
                return (
                  <td key={d} className={o ? (o.blocked ? "off" : "extra") : undefined}>
                    {cell ? (
                      <button type="button" className="day" onClick={() => setDate(cell)} aria-label={`${format.day(cell)}${o ? `: ${describeOverride(o)}` : ""}`}>
                        {Number(cell.slice(8))}
                      </button>
                    ) : null}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <ul>
        {overrides.map((o) => (
          <li key={o.date}>
            {format.day(o.date)}: {describeOverride(o)}{" "}
            <button type="button" onClick={() => void clear(o.date)}>
              {t.clear(format.day(o.date))}
            </button>
          </li>
        ))}
      </ul>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Field label={t.date}>
          <input type="date" value={date} onChange={(e) => setDate(e.target.value)} />
        </Field>
        <label className="check">
          <input type="radio" name="override-kind" checked={blocked} onChange={() => setBlocked(true)} />
          {t.dayOff}
        </label>
        <label className="check">
          <input type="radio" name="override-kind" checked={!blocked} onChange={() => setBlocked(false)} />
          {t.extraHours}
        </label>
        {blocked ? null : (
          <div className="window">
            <Field label={t.overrideFrom}>
              <input value={hours.start} onChange={(e) => setHours({ ...hours, start: e.target.value })} />
            </Field>
            <Field label={t.overrideUntil}>
              <input value={hours.end} onChange={(e) => setHours({ ...hours, end: e.target.value })} />
            </Field>
          </div>
        )}
        <ErrorMessage error={error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={!date}>
            {t.setOverride}
          </button>
        </div>
      </form>
    </section>
  );
}

/** The slots a service would offer in the next 7 days under the hours as edited (saved
 * or not) and the saved days off; asked again once the editing pauses, and after a save
 * (`round`), from the booking service's preview. */
function Preview({
  workspace,
  zone,
  weekly,
  round,
}: {
  workspace: Workspace;
  zone: string;
  weekly: Window[][];
  round: number | null;
}) {
  const t = text.specialist.schedule;
  const { session, auth, services } = workspace;
  const [serviceId, setServiceId] = useState(services[0]?.id ?? "");
  // Compared as text: the body is a new object at every render, and would never settle.
  const proposed = useDebounced(JSON.stringify(scheduleBody(zone, weekly)), 300);
  const from = today(zone);
  const to = addDays(from, 6);
  const [slots] = useAsync(async () => {
    if (!serviceId) return null;
    const body = { ...(JSON.parse(proposed) as ReturnType<typeof scheduleBody>), service_id: serviceId, from, to };
    return ok(
      api.POST("/v1/specialists/{specialist_id}/schedule/preview", {
        params: { path: { specialist_id: session.specialistId } },
        headers: auth,
        body,
      }),
    );
  }, [serviceId, proposed, from, to, round]);
  if (services.length === 0) return null;
  return (
    <section aria-labelledby="preview-title" className="panel">
      <h2 id="preview-title">{t.preview}</h2>
      <p className="muted">{t.previewHint}</p>
      <Field label={t.previewService}>
        <select value={serviceId} onChange={(e) => setServiceId(e.target.value)}>
          {services.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
      </Field>
      {slots.state === "loading" ? <Loading /> : null}
      {slots.state === "failed" ? <ErrorMessage error={slots.error} /> : null}
      {slots.state === "done" && slots.value ? (
        slots.value.slots.length === 0 ? (
          <p>{t.noSlots}</p>
        ) : (
          <ul className="preview-slots" aria-label={t.preview}>
            {slots.value.slots.map((s) => (
              <li key={s.start}>{format.dateTime(s.start, zone)}</li>
            ))}
          </ul>
        )
      ) : null}
    </section>
  );
}
