import { useCallback, useEffect, useState } from "react";

export type Async<T> =
  | { state: "loading" }
  | { state: "failed"; error: unknown }
  | { state: "done"; value: T };

const LOADING = { state: "loading" } as const;

/** `load()`'s result as state, loaded again when `deps` change or on `reload()`. An
 * answer is kept with the inputs it was loaded for, so one from before a change (a
 * slow response to an earlier month, say) never shows as the current one. */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]): [Async<T>, () => void] {
  const [round, setRound] = useState(0);
  const key = JSON.stringify([...deps, round]);
  const [result, setResult] = useState<{ key: string; value: Async<T> } | null>(null);
  useEffect(() => {
    let current = true;
    load().then(
      (value) => {
        if (current) setResult({ key, value: { state: "done", value } });
      },
      (error: unknown) => {
        if (current) setResult({ key, value: { state: "failed", error } });
      },
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `key` stands for load's inputs
  }, [key]);
  const reload = useCallback(() => {
    setRound((n) => n + 1);
  }, []);
  return [result?.key === key ? result.value : LOADING, reload];
}

/** The latest value `result` has had: a page that reloads after a change keeps showing
 * what it had (and the forms in it, with their notes) until the new answer is there. */
export function useLatest<T>(result: Async<T>): T | null {
  const [latest, setLatest] = useState<T | null>(null);
  if (result.state === "done" && result.value !== latest) setLatest(result.value);
  return result.state === "done" ? result.value : latest;
}
