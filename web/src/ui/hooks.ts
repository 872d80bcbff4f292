// React bindings for the store: components read snapshots through useSyncExternalStore, so
// they re-render only when their own slice changes (a background session never re-renders
// the pane on screen).

import { createContext, useContext, useEffect, useState, useSyncExternalStore } from "react";
import type { Session } from "../protocol";
import type { Api } from "../api/rest";
import type { Connection } from "../api/connection";
import type { SessionView } from "../state/session";
import { listKey, type ListQuery, type ListSnapshot } from "../state/listing";
import type { Store } from "../state/store";
import type { Viewport } from "../state/viewport";

export interface AppServices {
  store: Store;
  viewport: Viewport;
  connection: Connection;
  api: Api;
  navigate: (to: Route) => void;
}

export type Route = { kind: "root" } | { kind: "session"; id: string } | { kind: "inbox" };

export const Services = createContext<AppServices | null>(null);

export function useServices(): AppServices {
  const s = useContext(Services);
  if (!s) throw new Error("no services");
  return s;
}

/** A value derived from the store, re-read on every announced change. */
export function useStore<T>(select: (store: Store) => T): T {
  const { store } = useServices();
  return useSyncExternalStore(store.subscribe, () => select(store));
}

/** Whether this tab's connection is open: what it shows of sessions is current. */
export function useConnected(): boolean {
  return useStore((s) => s.connection.state === "open");
}

export function useSessionView(id: string): SessionView | null {
  return useStore((s) => s.view(id));
}

export function useSummary(id: string | null): Session | undefined {
  return useStore((s) => (id === null ? undefined : s.summary(id)));
}

export function useSessionList(): readonly Session[] {
  return useStore((s) => s.list());
}

/**
 * One session list (see state/listing.ts), held while the component shows it: the first
 * page is fetched when no other view holds the same list.
 */
export function useListing(query: ListQuery): ListSnapshot {
  const { viewport } = useServices();
  const key = listKey(query);
  // Keyed by listKey: a new object for the same query is the same list.
  useEffect(() => viewport.want(query), [viewport, key]);
  return useStore((s) => s.listing(query));
}

/** `value`, once it has stayed the same for `ms` (search as you type, without a request per key). */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return settled;
}

/** The current time, refreshed every `ms` (for "3 min ago"). */
export function useNow(ms = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** Whether the viewport is narrow (the sidebar is a drawer). */
export function useNarrow(): boolean {
  const query = "(max-width: 760px)";
  return useSyncExternalStore(
    (cb) => {
      const mq = matchMedia(query);
      mq.addEventListener("change", cb);
      return () => mq.removeEventListener("change", cb);
    },
    () => matchMedia(query).matches,
  );
}

export function timeAgo(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 14) return `${d} d ago`;
  return new Date(t).toLocaleDateString();
}
