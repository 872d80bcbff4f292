import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Store, TOAST_TTL, immediateScheduler } from "./store";
import { compareSummaries, isStale } from "./summary";
import { summary } from "./fixtures";

describe("summary order", () => {
  it("orders by last_seq, then updated_at (as times), then read_seq", () => {
    const base = summary("a", { last_seq: 5, updated_at: "2026-11-21T10:00:01Z", read_seq: 2 });
    expect(compareSummaries(summary("a", { ...base, last_seq: 6, updated_at: "2026-11-21T09:00:00Z" }), base)).toBeGreaterThan(0);
    expect(compareSummaries(summary("a", { ...base, updated_at: "2026-11-21T10:00:01.5Z" }), base)).toBeGreaterThan(0);
    // Fraction digits differ: the same instant.
    expect(compareSummaries(summary("a", { ...base, updated_at: "2026-11-21T10:00:01.000Z" }), base)).toBe(0);
    expect(compareSummaries(summary("a", { ...base, read_seq: 1 }), base)).toBeLessThan(0);
    expect(compareSummaries(summary("a", { ...base, status: "running", viewers: 4 }), base)).toBe(0);
    expect(isStale(summary("a", { ...base, last_seq: 4 }), base)).toBe(true);
    expect(isStale(summary("a", { ...base, status: "error" }), base)).toBe(false);
    expect(isStale(base, undefined)).toBe(false);
  });
});

describe("Store toasts", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("each toast goes away after its own time, however many come after it", () => {
    const store = new Store(immediateScheduler);
    store.toast("first");
    vi.advanceTimersByTime(TOAST_TTL - 1000);
    store.toast("second");
    vi.advanceTimersByTime(500);
    store.toast("third"); // a change to the list does not restart the others' clocks
    vi.advanceTimersByTime(500);
    expect(store.toasts.map((t) => t.text)).toEqual(["second", "third"]);
    vi.advanceTimersByTime(TOAST_TTL - 1000);
    expect(store.toasts.map((t) => t.text)).toEqual(["third"]);
    vi.advanceTimersByTime(500);
    expect(store.toasts).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a toast dismissed by hand stops its timer", () => {
    const store = new Store(immediateScheduler);
    const id = store.toast("bye");
    store.dismissToast(id);
    expect(store.toasts).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
