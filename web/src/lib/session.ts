// The signed-in specialist: their JWT (from a sign-in link), kept in localStorage so a
// reload keeps them signed in until it expires; signing out forgets it. Only ever sent
// in an Authorization header (api/client).
import { storedItem } from "./storedItem";

export interface SpecialistSession {
  token: string;
  specialistId: string;
  expiresAt: string;
}

const stored = storedItem(() => globalThis.localStorage, "kairos.specialist-session");

/** The session kept as `raw`, while it has not expired. */
export function sessionOf(raw: string | null, now: number = Date.now()): SpecialistSession | null {
  if (raw === null) return null;
  try {
    const session = JSON.parse(raw) as SpecialistSession;
    return Date.parse(session.expiresAt) > now ? session : null;
  } catch {
    return null;
  }
}

/** The JWT's subject: who it signs in (the API checks the signature, not this page). */
function subject(token: string): string {
  const payload = token.split(".")[1] ?? "";
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  const { sub } = JSON.parse(json) as { sub?: unknown };
  return typeof sub === "string" ? sub : "";
}

export function signIn(token: string, expiresAt: string): SpecialistSession {
  const session = { token, specialistId: subject(token), expiresAt };
  stored.write(JSON.stringify(session));
  return session;
}

export function signOut(): void {
  stored.clear();
}

/** The current session, or null when signed out or expired. */
export function useSession(): SpecialistSession | null {
  return sessionOf(stored.use());
}
