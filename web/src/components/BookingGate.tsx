// What a page reached by a booking's link shows until the booking is there: the missing
// key, loading, or the error in words.
import type { ReactNode } from "react";
import { text } from "../i18n/text";
import type { Async } from "../lib/useAsync";
import { ErrorMessage, Loading } from "./Status";

export function BookingGate<T>({
  token,
  result,
  retry,
  children,
}: {
  token: string | null;
  result: Async<T>;
  retry: () => void;
  children: (value: T) => ReactNode;
}) {
  if (token === null) return <ErrorMessage error={text.errors.noToken} />;
  if (result.state === "loading") return <Loading />;
  if (result.state === "failed") {
    return (
      <ErrorMessage error={result.error}>
        <button type="button" onClick={retry}>
          {text.app.retry}
        </button>
      </ErrorMessage>
    );
  }
  return <>{children(result.value)}</>;
}
