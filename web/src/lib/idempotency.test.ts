import { describe, expect, it } from "vitest";
import { IdempotencyKeys } from "./idempotency";

describe("IdempotencyKeys", () => {
  it("repeats the key for the same body and changes it for another", () => {
    const keys = new IdempotencyKeys();
    const first = keys.for({ starts_at: "a" });
    expect(keys.for({ starts_at: "a" })).toBe(first);
    expect(keys.for({ starts_at: "b" })).not.toBe(first);
  });
});
