import { useState, type FormEvent } from "react";

/** A form's sending: `submit` runs `action` once at a time, `busy` while it runs, and
 * `error` holds what it threw (cleared when it runs again). */
export function useSubmit(action: () => Promise<void>): {
  submit: (event?: FormEvent) => void;
  busy: boolean;
  error: unknown;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    action()
      .catch((failure: unknown) => setError(failure))
      .finally(() => setBusy(false));
  };
  return { submit, busy, error };
}
