// One string kept in a browser Storage under `key`, which React components follow: the
// specialist's session (localStorage) and the admin's key (this tab's sessionStorage).
import { useSyncExternalStore } from "react";

export interface StoredItem {
  read(): string | null;
  write(value: string): void;
  clear(): void;
  /** The value as it stands, re-rendering when it is written, cleared, or changed by
   * another tab (localStorage only: sessionStorage is not shared). */
  use(): string | null;
}

export function storedItem(storage: () => Storage, key: string): StoredItem {
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of listeners) listener();
  };
  const read = () => storage().getItem(key);
  const subscribe = (listener: () => void) => {
    listeners.add(listener);
    const onStorage = (event: StorageEvent) => {
      if (event.key === key) listener();
    };
    globalThis.addEventListener("storage", onStorage);
    return () => {
      listeners.delete(listener);
      globalThis.removeEventListener("storage", onStorage);
    };
  };
  return {
    read,
    write(value) {
      storage().setItem(key, value);
      changed();
    },
    clear() {
      storage().removeItem(key);
      changed();
    },
    use: () => useSyncExternalStore(subscribe, read),
  };
}
