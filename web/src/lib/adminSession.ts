// The signed-in admin: the ADMIN_API_KEY they pasted, kept in this tab's sessionStorage
// only (gone when the tab closes, never shared with other tabs, never in localStorage or
// a URL), forgotten on sign-out. Only ever sent in an Authorization header (api/client).
import { storedItem } from "./storedItem";

const adminKey = storedItem(() => globalThis.sessionStorage, "kairos.admin-key");

export function signInAdmin(key: string): void {
  adminKey.write(key);
}

export function signOutAdmin(): void {
  adminKey.clear();
}

/** The admin key of this tab, or null when no admin is signed in. */
export function useAdminKey(): string | null {
  return adminKey.use();
}
