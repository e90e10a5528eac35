// Dates and times through Intl only, in the viewer's locale and a given IANA zone.

const locale = (): string => navigator.language;

/** The zone the browser reports. */
export function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Whether the viewer's locale writes times with a 12-hour clock. */
export function prefers12h(): boolean {
  const cycle = new Intl.DateTimeFormat(locale(), { hour: "numeric" }).resolvedOptions().hourCycle;
  return cycle === "h12" || cycle === "h11";
}

/** Every IANA zone the browser knows, for the searchable zone list. */
export function allZones(): string[] {
  const zones = Intl.supportedValuesOf("timeZone");
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}

export function isZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

/** The clock asked for by name: `hour12: false` alone gives "24:45" in en-US and "0:45" in en-GB. */
function clock(hour12: boolean): Intl.DateTimeFormatOptions {
  return { hourCycle: hour12 ? "h12" : "h23" };
}

export function time(instant: string, zone: string, hour12: boolean): string {
  return new Intl.DateTimeFormat(locale(), {
    hour: hour12 ? "numeric" : "2-digit",
    minute: "2-digit",
    ...clock(hour12),
    timeZone: zone,
  }).format(new Date(instant));
}

/** A full date and time, with the zone's name, e.g. for the confirmation. */
export function dateTime(instant: string, zone: string, hour12?: boolean): string {
  return new Intl.DateTimeFormat(locale(), {
    dateStyle: "full",
    timeStyle: "short",
    timeZone: zone,
    ...(hour12 === undefined ? {} : clock(hour12)),
  }).format(new Date(instant));
}

/** A calendar date ("YYYY-MM-DD") as words, e.g. "Thursday, 3 December". */
export function day(isoDate: string): string {
  return new Intl.DateTimeFormat(locale(), {
    weekday: "long",
    day: "numeric",
    month: "long",
    year: "numeric",
    timeZone: "UTC",
  }).format(new Date(`${isoDate}T00:00:00Z`));
}

export function monthTitle(year: number, month: number): string {
  return new Intl.DateTimeFormat(locale(), {
    month: "long",
    year: "numeric",
    timeZone: "UTC",
  }).format(Date.UTC(year, month - 1, 1));
}

/** Short weekday names, Monday first (the API's day 0). */
export function weekdays(): string[] {
  const format = new Intl.DateTimeFormat(locale(), { weekday: "short", timeZone: "UTC" });
  // 2024-01-01 was a Monday.
  return Array.from({ length: 7 }, (_, i) => format.format(Date.UTC(2024, 0, 1 + i)));
}

export function money(amount: string, currency: string | null | undefined): string {
  if (!currency) return amount;
  return new Intl.NumberFormat(locale(), { style: "currency", currency }).format(Number(amount));
}

/** The zone's offset at `instant`, e.g. "GMT+5:45". */
export function offset(zone: string, instant: Date = new Date()): string {
  const parts = new Intl.DateTimeFormat("en", {
    timeZone: zone,
    timeZoneName: "shortOffset",
  }).formatToParts(instant);
  return parts.find((part) => part.type === "timeZoneName")?.value ?? zone;
}

/** Names as one phrase in the viewer's language, e.g. "Ann, Bo and Cy". */
export function list(items: string[]): string {
  return new Intl.ListFormat(locale(), { style: "long", type: "conjunction" }).format(items);
}
