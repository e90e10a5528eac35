// Client-side routing on the History API: a route table (./routes.tsx) of path patterns,
// links that navigate without a reload, and the current location as state.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from "react";

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  globalThis.addEventListener("popstate", listener);
  return () => {
    listeners.delete(listener);
    globalThis.removeEventListener("popstate", listener);
  };
}

export function navigate(to: string, { replace = false } = {}): void {
  if (replace) globalThis.history.replaceState(null, "", to);
  else globalThis.history.pushState(null, "", to);
  globalThis.scrollTo(0, 0);
  for (const listener of listeners) listener();
}

/** The current path and query (the fragment is the page's own business). */
export function useLocation(): { pathname: string; search: URLSearchParams } {
  const href = useSyncExternalStore(subscribe, () => globalThis.location.pathname + globalThis.location.search);
  const url = new URL(href, "http://x");
  return { pathname: url.pathname, search: url.searchParams };
}

export interface Route {
  /** A path with `:name` segments, e.g. "/book/:specialist". */
  path: string;
  render: (params: Record<string, string>) => ReactNode;
}

export function match(routes: readonly Route[], pathname: string): ReactNode | null {
  const segments = pathname.split("/").filter(Boolean);
  for (const route of routes) {
    const pattern = route.path.split("/").filter(Boolean);
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matched = pattern.every((part, i) => {
      const segment = segments[i] ?? "";
      if (part.startsWith(":")) {
        params[part.slice(1)] = decodeURIComponent(segment);
        return true;
      }
      return part === segment;
    });
    if (matched) return route.render(params);
  }
  return null;
}

export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const follow = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={follow} {...rest} />;
}
