import { useEffect, useState } from "react";

/** The time now, in milliseconds, updated every `intervalMs` (countdowns, "started yet?"). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
