// A booking's manage token arrives in the URL fragment (`#token=…`), which browsers
// never send to a server. It is moved to sessionStorage and taken out of the address
// bar at once, and only ever leaves the page in an Authorization header (api/client).

const key = (bookingId: string) => `kairos.manage-token.${bookingId}`;

/** The token for `bookingId`: from the fragment (kept, then removed), else kept earlier. */
export function manageToken(bookingId: string): string | null {
  const fragment = new URLSearchParams(globalThis.location.hash.slice(1));
  const fromLink = fragment.get("token");
  if (fromLink) {
    keepToken(bookingId, fromLink);
    fragment.delete("token");
    const rest = fragment.toString();
    const { pathname, search } = globalThis.location;
    globalThis.history.replaceState(globalThis.history.state, "", pathname + search + (rest ? `#${rest}` : ""));
  }
  return globalThis.sessionStorage.getItem(key(bookingId));
}

export function keepToken(bookingId: string, token: string): void {
  globalThis.sessionStorage.setItem(key(bookingId), token);
}

/** A link that carries the token, for the person it belongs to (as the e-mails do). */
export function tokenLink(path: string, token: string): string {
  return `${globalThis.location.origin}${path}#token=${encodeURIComponent(token)}`;
}
