import type { ReactNode } from "react";
import { ApiError } from "../api/client";
import { text } from "../i18n/text";

export function Loading({ label = text.app.loading }: { label?: string }) {
  return (
    <p className="status" role="status" aria-live="polite">
      {label}
    </p>
  );
}

/** An error in words: the API's own message, or what a network failure means. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === "network_error") return text.errors.network;
    if (error.status === 401 || error.status === 403) return text.errors.badToken;
    if (error.status === 404) return text.errors.notFound;
    return error.message || text.errors.generic(error.code);
  }
  return text.errors.generic(error instanceof Error ? error.message : String(error));
}

export function ErrorMessage({
  error,
  id,
  children,
}: {
  error: unknown;
  id?: string;
  children?: ReactNode;
}) {
  if (error === null || error === undefined) return null;
  return (
    <p className="error" role="alert" id={id}>
      {typeof error === "string" ? error : describe(error)} {children}
    </p>
  );
}
