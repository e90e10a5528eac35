import { describe, expect, it } from "vitest";
import { addDays, byDay, googleCalendarLink, monthGrid, monthRange, refundable, shiftMonth, split, today } from "./calendar";

describe("calendar", () => {
  it("lays out a month Monday first, with blanks around it", () => {
    const grid = monthGrid({ year: 2026, month: 12 }); // 1 December 2026 is a Tuesday
    expect(grid[0]).toEqual([null, "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04", "2026-12-05", "2026-12-06"]);
    expect(grid.at(-1)?.filter(Boolean).at(-1)).toBe("2026-12-31");
    expect(grid.every((week) => week.length === 7)).toBe(true);
  });

  it("knows month ends, leap years and year boundaries", () => {
    expect(monthRange({ year: 2028, month: 2 })).toEqual({ from: "2028-02-01", to: "2028-02-29" });
    expect(shiftMonth({ year: 2026, month: 12 }, 1)).toEqual({ year: 2027, month: 1 });
    expect(shiftMonth({ year: 2026, month: 1 }, -1)).toEqual({ year: 2025, month: 12 });
    expect(addDays("2026-03-28", 2)).toBe("2026-03-30"); // across a DST change, still 2 days
  });

  it("groups slots by the day of the zone they were asked in", () => {
    const slots = [
      { local_start: "2026-12-03T23:45:00+05:45" },
      { local_start: "2026-12-04T00:15:00+05:45" },
    ];
    expect([...byDay(slots).keys()]).toEqual(["2026-12-03", "2026-12-04"]);
  });

  it("tells today's date in a zone", () => {
    const instant = new Date("2026-12-02T20:00:00Z");
    expect(today("Asia/Kathmandu", instant)).toBe("2026-12-03");
    expect(today("America/New_York", instant)).toBe("2026-12-02");
  });

  it("allows a refund only up to the cancellation window", () => {
    const now = new Date("2026-12-02T10:00:00Z");
    expect(refundable("2026-12-03T10:00:00Z", 24, now)).toBe(true);
    expect(refundable("2026-12-03T09:59:00Z", 24, now)).toBe(false);
  });

  it("splits a countdown and builds a calendar link without the token", () => {
    expect(split(90_061_000)).toEqual({ d: 1, h: 1, m: 1, s: 1 });
    const link = new URL(googleCalendarLink("Talk", "2026-12-03T10:00:00Z", "2026-12-03T10:30:00Z", "x"));
    expect(link.searchParams.get("dates")).toBe("20261203T100000Z/20261203T103000Z");
  });
});
