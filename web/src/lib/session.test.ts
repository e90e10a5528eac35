import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessionOf, signIn, signOut } from "./session";

// A JWT's shape: only its payload's `sub` is read here (the API checks the signature).
const payload = btoa(JSON.stringify({ sub: "0f1e2d3c-0000-4000-8000-000000000001", role: "specialist" }))
  .replace(/=+$/, "")
  .replace(/\+/g, "-")
  .replace(/\//g, "_");
const token = `eyJhbGciOiJIUzI1NiJ9.${payload}.signature`;

describe("the specialist's session", () => {
  beforeEach(() => {
    const store = new Map<string, string>();
    globalThis.localStorage = {
      getItem: (key: string) => store.get(key) ?? null,
      setItem: (key: string, value: string) => void store.set(key, value),
      removeItem: (key: string) => void store.delete(key),
    } as Storage;
  });
  afterEach(() => {
    signOut();
  });

  it("keeps the token and who it signs in until it expires", () => {
    const kept = signIn(token, "2030-01-01T12:00:00Z");
    expect(kept.specialistId).toBe("0f1e2d3c-0000-4000-8000-000000000001");
    const raw = globalThis.localStorage.getItem("kairos.specialist-session");
    expect(sessionOf(raw, Date.parse("2030-01-01T11:59:59Z"))?.token).toBe(token);
    expect(sessionOf(raw, Date.parse("2030-01-01T12:00:00Z"))).toBeNull();
  });

  it("forgets it on sign-out, and reads nothing from garbage", () => {
    signIn(token, "2030-01-01T12:00:00Z");
    signOut();
    expect(globalThis.localStorage.getItem("kairos.specialist-session")).toBeNull();
    expect(sessionOf("not json")).toBeNull();
  });
});
