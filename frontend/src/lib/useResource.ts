import { useCallback, useEffect, useRef, useState, type DependencyList } from "react";
import { ApiError } from "../api/client";

/** How long to wait before asking again: the server's Retry-After when it asked us to slow down. */
export function nextDelay(error: unknown, usual: number): number {
  return error instanceof ApiError && error.retryAfterS ? Math.max(usual, error.retryAfterS * 1000) : usual;
}

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
  setData(update: (current: T | undefined) => T | undefined): void;
}

/**
 * Load something, and load it again every `pollMs(data)` milliseconds while that returns a number.
 * A failed poll keeps the last data and shows the error; the next poll clears it.
 */
export function useResource<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: DependencyList,
  pollMs?: (data: T | undefined) => number | null,
): Resource<T> {
  const [data, setDataState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const pollRef = useRef(pollMs);
  pollRef.current = pollMs;
  const loader = useCallback(load, deps);

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let latest: T | undefined;
    const tick = async () => {
      let failure: unknown = null;
      try {
        latest = await loader(controller.signal);
        if (controller.signal.aborted) return;
        setDataState(latest);
        setError(null);
      } catch (caught) {
        if (controller.signal.aborted) return;
        failure = caught;
        setError(caught);
      } finally {
        if (!controller.signal.aborted) {
          setLoading(false);
          const next = pollRef.current?.(latest);
          if (next != null) timer = setTimeout(tick, nextDelay(failure, next));
        }
      }
    };
    setLoading(true);
    void tick();
    return () => {
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [loader, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const setData = useCallback((update: (current: T | undefined) => T | undefined) => setDataState(update), []);
  return { data, error, loading, reload, setData };
}
