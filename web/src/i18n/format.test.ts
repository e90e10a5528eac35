import { afterEach, describe, expect, it, vi } from "vitest";
import * as format from "./format";

// 00:45 in Kathmandu (+05:45) and 09:00 UTC: the hours where a 24-hour clock goes wrong.
const pastMidnight = "2026-12-03T19:00:00Z";
const morning = "2026-12-03T09:00:00Z";

function inLocale(language: string): void {
  vi.stubGlobal("navigator", { language });
}

describe("times on a 24-hour clock", () => {
  afterEach(() => vi.unstubAllGlobals());

  it.each(["en-US", "en-GB", "de"])("are written HH:MM in %s", (language) => {
    inLocale(language);
    expect(format.time(pastMidnight, "Asia/Kathmandu", false)).toBe("00:45");
    expect(format.time(morning, "UTC", false)).toBe("09:00");
    expect(format.dateTime(pastMidnight, "Asia/Kathmandu", false)).toContain("00:45");
  });

  it("are written with a.m./p.m. on a 12-hour clock", () => {
    inLocale("en-US");
    expect(format.time(pastMidnight, "Asia/Kathmandu", true)).toBe("12:45 AM");
    expect(format.time(morning, "UTC", true)).toBe("9:00 AM");
  });
});
