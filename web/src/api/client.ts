// The one API layer: a client typed by the generated schema (make web-api), and the
// API's error shape turned into an exception the pages show in words.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Specialist = Schemas["SpecialistPublic"];
export type Service = Schemas["ServicePublic"];
export type Slot = Schemas["SlotPublic"];
export type Booking = Schemas["BookingPublic"];
export type BookingCreated = Schemas["BookingCreated"];
export type Session = Schemas["SessionPublic"];
export type JoinGrant = Schemas["JoinGrantPublic"];
export type TeamListing = Schemas["TeamListing"];
export type Team = Schemas["TeamPublic"];
export type Subscription = Schemas["SubscriptionPublic"];
export type Delivery = Schemas["DeliveryPublic"];

// Same origin: the gateway in dev, the Ingress in k8s.
export const api = createClient<paths>({ baseUrl: globalThis.location?.origin ?? "" });

/** An answer in the API's error shape: {"error": {"code", "message", "details"}}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; details?: unknown };
}

/** The data of an openapi-fetch result, or its error thrown as an ApiError. */
export async function ok<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch {
    throw new ApiError(0, "network_error", "", null);
  }
  const { data, error, response } = result;
  if (error !== undefined || !response.ok) {
    const body = (error ?? {}) as ErrorBody;
    const problem = body.error ?? {};
    throw new ApiError(
      response.status,
      typeof problem.code === "string" ? problem.code : "http_" + String(response.status),
      typeof problem.message === "string" ? problem.message : response.statusText,
      problem.details ?? null,
    );
  }
  return data as T;
}

/** `Authorization: Bearer <token>`: the only place a manage token is ever sent. */
export function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

/**
 * The fields a 422 `validation_error` names, as dotted paths below the body
 * ("client.email", "answers.topic") with the API's message for each.
 */
export function fieldErrors(error: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!(error instanceof ApiError)) return fields;
  if (error.code === "validation_error" && Array.isArray(error.details)) {
    for (const item of error.details as { loc?: unknown[]; msg?: string }[]) {
      const loc = (item.loc ?? []).filter((part) => part !== "body").map(String);
      if (loc.length > 0) fields[loc.join(".")] = item.msg ?? error.message;
    }
  }
  if (error.code === "missing_answer") {
    const missing = (error.details as { missing?: unknown } | null)?.missing;
    if (Array.isArray(missing)) {
      for (const key of missing) fields[`answers.${String(key)}`] = error.message;
    }
  }
  return fields;
}
