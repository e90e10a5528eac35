// The signed-in admin: the ADMIN_API_KEY they pasted, kept in this tab's sessionStorage
// only (gone when the tab closes, never shared with other tabs, never in localStorage or
// a URL), forgotten on sign-out. Only ever sent in an Authorization header (api/client).
import { useSyncExternalStore } from "react";

const KEY = "kairos.admin-key";
const listeners = new Set<() => void>();

function read(): string | null {
  return globalThis.sessionStorage.getItem(KEY);
}

function changed(): void {
  for (const listener of listeners) listener();
}

export function signInAdmin(key: string): void {
  globalThis.sessionStorage.setItem(KEY, key);
  changed();
}

export function signOutAdmin(): void {
  globalThis.sessionStorage.removeItem(KEY);
  changed();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The admin key of this tab, or null when no admin is signed in. */
export function useAdminKey(): string | null {
  return useSyncExternalStore(subscribe, read);
}
