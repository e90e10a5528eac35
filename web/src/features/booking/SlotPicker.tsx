// A service's free times: a month calendar with the days that have free time marked, and
// the chosen day's times, in `zone`. Used to book and to reschedule.
import { useState } from "react";
import { api, ok, type Service, type Slot } from "../../api/client";
import { ErrorMessage, Failed, Loading } from "../../components/Status";
import { WeekdayHead } from "../../components/WeekdayHead";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import {
  addDays,
  byDay,
  monthGrid,
  monthOf,
  monthRange,
  shiftMonth,
  today,
  type Month,
} from "../../lib/calendar";
import { useAsync } from "../../lib/useAsync";

// The slots API answers at most 62 days at once: the look-ahead for the next free day.
const LOOK_AHEAD_DAYS = 62;

interface SlotPickerProps {
  service: Service;
  zone: string;
  hour12: boolean;
  selected: Slot | null;
  onSelect: (slot: Slot | null) => void;
  /** Changes when the slots must be fetched again (e.g. after "slot just taken"). */
  version?: number;
  /** A write's notification_id, so the slots shown include its effect. */
  minPosition?: number | null;
}

async function fetchSlots(serviceId: string, zone: string, from: string, to: string, minPosition?: number | null) {
  const query = { service_id: serviceId, from, to, timezone: zone, ...(minPosition ? { min_position: minPosition } : {}) };
  return (await ok(api.GET("/v1/slots", { params: { query } }))).slots;
}

export function SlotPicker({ service, zone, hour12, selected, onSelect, version = 0, minPosition }: SlotPickerProps) {
  const [month, setMonth] = useState<Month>(() => monthOf(today(zone)));
  const [day, setDay] = useState<string | null>(null);
  const range = monthRange(month);
  const [slots, reload] = useAsync(
    () => fetchSlots(service.id, zone, range.from, range.to, minPosition),
    [service.id, zone, range.from, version, minPosition],
  );
  const days = slots.state === "done" ? byDay(slots.value) : new Map<string, Slot[]>();
  const firstFree = [...days.keys()][0] ?? null;
  const shownDay = day !== null && days.has(day) ? day : firstFree;
  const nowMonth = monthOf(today(zone));
  const atFirstMonth = month.year === nowMonth.year && month.month === nowMonth.month;

  const goTo = (target: Month, targetDay: string | null = null) => {
    setMonth(target);
    setDay(targetDay);
    onSelect(null);
  };

  return (
    <div className="picker">
      <section aria-labelledby="calendar-title" className="calendar">
        <div className="month-bar">
          <button
            type="button"
            onClick={() => goTo(shiftMonth(month, -1))}
            disabled={atFirstMonth}
            aria-label={text.booking.previousMonth}
          >
            ‹
          </button>
          <h2 id="calendar-title" aria-live="polite">
            {format.monthTitle(month.year, month.month)}
          </h2>
          <button type="button" onClick={() => goTo(shiftMonth(month, 1))} aria-label={text.booking.nextMonth}>
            ›
          </button>
        </div>
        <table className="month" aria-label={text.booking.calendar}>
          <WeekdayHead />
          <tbody>
            {monthGrid(month).map((week, w) => (
              <tr key={w}>
                {week.map((date, d) =>
                  date === null ? (
                    <td key={d} />
                  ) : (
                    <td key={d}>
                      <button
                        type="button"
                        className={days.has(date) ? "day free" : "day"}
                        data-date={date}
                        disabled={!days.has(date)}
                        aria-pressed={date === shownDay}
                        aria-label={
                          days.has(date)
                            ? text.booking.dayWithSlots(format.day(date), days.get(date)?.length ?? 0)
                            : text.booking.dayWithout(format.day(date))
                        }
                        onClick={() => {
                          setDay(date);
                          onSelect(null);
                        }}
                      >
                        {Number(date.slice(8))}
                      </button>
                    </td>
                  ),
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="slots-title" className="slots">
        {slots.state === "loading" ? <Loading /> : null}
        {slots.state === "failed" ? (
          <Failed error={slots.error} retry={reload} />
        ) : null}
        {slots.state === "done" && shownDay === null ? (
          <NextFreeDay serviceId={service.id} zone={zone} after={range.to} onGo={(date) => goTo(monthOf(date), date)} />
        ) : null}
        {shownDay !== null ? (
          <>
            <h2 id="slots-title">{text.booking.slots(format.day(shownDay))}</h2>
            <ul className="slot-list">
              {(days.get(shownDay) ?? []).map((slot) => (
                <li key={slot.start}>
                  <button
                    type="button"
                    className="slot"
                    data-start={slot.start}
                    aria-pressed={selected?.start === slot.start}
                    aria-label={format.dateTime(slot.start, zone, hour12)}
                    onClick={() => onSelect(slot)}
                  >
                    {format.time(slot.start, zone, hour12)}
                  </button>
                </li>
              ))}
            </ul>
          </>
        ) : null}
      </section>
    </div>
  );
}

function NextFreeDay({
  serviceId,
  zone,
  after,
  onGo,
}: {
  serviceId: string;
  zone: string;
  after: string;
  onGo: (date: string) => void;
}) {
  const from = addDays(after, 1);
  const [next] = useAsync(
    () => fetchSlots(serviceId, zone, from, addDays(from, LOOK_AHEAD_DAYS - 1)),
    [serviceId, zone, from],
  );
  const date = next.state === "done" ? next.value[0]?.local_start.slice(0, 10) : undefined;
  return (
    <div className="empty" id="slots-title">
      <p>{text.booking.noSlotsMonth}</p>
      {next.state === "loading" ? <Loading /> : null}
      {next.state === "failed" ? <ErrorMessage error={next.error} /> : null}
      {next.state === "done" && date === undefined ? <p>{text.booking.noSlotsSoon}</p> : null}
      {date !== undefined ? (
        <button type="button" onClick={() => onGo(date)}>
          {text.booking.nextFreeDay(format.day(date))}
        </button>
      ) : null}
    </div>
  );
}
