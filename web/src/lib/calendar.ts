// Calendar arithmetic on dates written "YYYY-MM-DD" (a day of the viewer's zone, as the
// slots API takes and gives them): computed in UTC so no zone or DST can shift a day.

export interface Month {
  year: number;
  month: number; // 1..12
}

const DAY_MS = 86_400_000;

function iso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function ms(isoDate: string): number {
  return Date.parse(`${isoDate}T00:00:00Z`);
}

/** Today's date in `zone`. */
export function today(zone: string, now: Date = new Date()): string {
  // en-CA writes dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat("en-CA", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(now);
}

export function addDays(isoDate: string, days: number): string {
  return iso(ms(isoDate) + days * DAY_MS);
}

export function monthOf(isoDate: string): Month {
  return { year: Number(isoDate.slice(0, 4)), month: Number(isoDate.slice(5, 7)) };
}

export function shiftMonth({ year, month }: Month, delta: number): Month {
  const index = year * 12 + (month - 1) + delta;
  return { year: Math.floor(index / 12), month: (index % 12) + 1 };
}

/** The first and last day of `month`. */
export function monthRange({ year, month }: Month): { from: string; to: string } {
  return {
    from: iso(Date.UTC(year, month - 1, 1)),
    to: iso(Date.UTC(year, month, 0)),
  };
}

/** The month as weeks of seven cells, Monday first; cells outside the month are null. */
export function monthGrid(month: Month): (string | null)[][] {
  const { from, to } = monthRange(month);
  const lead = (new Date(ms(from)).getUTCDay() + 6) % 7; // Monday = 0
  const cells: (string | null)[] = Array.from({ length: lead }, () => null);
  for (let d = from; d <= to; d = addDays(d, 1)) cells.push(d);
  while (cells.length % 7 !== 0) cells.push(null);
  return Array.from({ length: cells.length / 7 }, (_, w) => cells.slice(w * 7, w * 7 + 7));
}

/** Slots grouped by their day in the zone they were asked in (their local_start's date). */
export function byDay<T extends { local_start: string }>(slots: readonly T[]): Map<string, T[]> {
  const days = new Map<string, T[]>();
  for (const slot of slots) {
    const date = slot.local_start.slice(0, 10);
    const list = days.get(date);
    if (list) list.push(slot);
    else days.set(date, [slot]);
  }
  return days;
}

/** Whether cancelling at `now` is still `hours` or more before `startsAt` (a refund). */
export function refundable(startsAt: string, hours: number, now: Date = new Date()): boolean {
  return Date.parse(startsAt) - now.getTime() >= hours * 3_600_000;
}

/** Milliseconds from `now` until `instant`, never below zero. */
export function until(instant: string, now: number): number {
  return Math.max(0, Date.parse(instant) - now);
}

/** A span of milliseconds as days, hours, minutes and seconds. */
export function split(spanMs: number): { d: number; h: number; m: number; s: number } {
  const total = Math.floor(spanMs / 1000);
  return {
    d: Math.floor(total / 86_400),
    h: Math.floor((total % 86_400) / 3600),
    m: Math.floor((total % 3600) / 60),
    s: total % 60,
  };
}

/** A Google Calendar "add event" link (opened by the user; the page requests nothing). */
export function googleCalendarLink(
  title: string,
  startsAt: string,
  endsAt: string,
  details: string,
): string {
  const stamp = (instant: string) =>
    new Date(instant).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const params = new URLSearchParams({
    action: "TEMPLATE",
    text: title,
    dates: `${stamp(startsAt)}/${stamp(endsAt)}`,
    details,
  });
  return `https://calendar.google.com/calendar/render?${params.toString()}`;
}
