// Test fixtures shared by the unit tests (not part of the app bundle: nothing imports it).
import type { Session } from "../protocol";

export const TS = "2026-11-21T10:00:00Z";

export function summary(id: string, over: Partial<Session> = {}): Session {
  return {
    id,
    slug: `slug-${id}`,
    title: `title ${id}`,
    agent: "demo",
    cwd: "/w",
    status: "idle",
    created_at: TS,
    updated_at: TS,
    last_seq: 0,
    read_seq: 0,
    unread: 0,
    pending_prompts: 0,
    viewers: 1,
    agent_running: false,
    archived: false,
    ...over,
  };
}
