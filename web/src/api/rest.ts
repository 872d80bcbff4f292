// REST client for `/api/v1`. The token travels in the HttpOnly cookie the server set when
// the UI was opened with `/?token=…`; this code never sees it.

import type {
  AgentList,
  Answer,
  Attachment,
  ConfigChange,
  CreateSession,
  ErrorBody,
  ErrorCode,
  EventsPage,
  MarkRead,
  PatchConfig,
  PatchSession,
  PromptList,
  Resolution,
  Resolved,
  Session,
  SessionList,
  SessionsQuery,
  StartTurn,
  TurnAccepted,
} from "../protocol";

export const API = "/api/v1";

/** A non-2xx answer, with the server's error body when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | "network",
    message: string,
    /** With `already_resolved`: the winning resolution. */
    readonly resolution?: Resolution,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The words to show for a failed request (or anything else thrown). */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Called when any request answers 401 (the UI shows the login page). */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  return send<T>(API + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** `fetch` with the session cookie; the answer's JSON, or its error as an ApiError. */
async function send<T>(url: string, init: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, "network", "The server cannot be reached.");
  }
  if (response.status === 401) onUnauthorized();
  if (!response.ok) {
    let code: ErrorCode | "network" = "internal";
    let message = `${response.status} ${response.statusText}`;
    let resolution: Resolution | undefined;
    try {
      const err = (await response.json()) as ErrorBody;
      code = err.error.code;
      message = err.error.message;
      resolution = err.error.resolution;
    } catch {
      // not a JSON error body; keep the status line
    }
    throw new ApiError(response.status, code, message, resolution);
  }
  if (response.status === 204 || response.status === 202) {
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
  return (await response.json()) as T;
}

const enc = encodeURIComponent;

/** `?limit=…&before=…` from the fields that are set (none: ""). */
function queryString(query: SessionsQuery): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== "") parts.push(`${enc(k)}=${enc(String(v))}`);
  }
  return parts.length > 0 ? `?${parts.join("&")}` : "";
}

export const api = {
  agents: () => request<AgentList>("GET", "/agents"),
  /** One page of sessions (see listing.ts); without `limit`, every one not archived. */
  sessions: (query: SessionsQuery = {}) => request<SessionList>("GET", `/sessions${queryString(query)}`),
  session: (id: string) => request<Session>("GET", `/sessions/${enc(id)}`),
  create: (body: CreateSession) => request<Session>("POST", "/sessions", body),
  rename: (id: string, title: string) =>
    request<Session>("PATCH", `/sessions/${enc(id)}`, { title } satisfies PatchSession),
  archive: (id: string, archived: boolean) =>
    request<Session>("PATCH", `/sessions/${enc(id)}`, { archived } satisfies PatchSession),
  /** Change a mode or config option (`200` applied by the agent, `202` kept until it starts). */
  configure: (id: string, change: ConfigChange) =>
    request<Session>("PATCH", `/sessions/${enc(id)}/config`, change satisfies PatchConfig),
  /** Stop the session's agent process (a running turn ends cancelled); the next prompt starts it again. */
  stop: (id: string) => request<Session>("POST", `/sessions/${enc(id)}/stop`),
  remove: (id: string) => request<void>("DELETE", `/sessions/${enc(id)}`),
  /** Start a turn; with `queue`, one sent while a turn runs waits for it (`queued: true`). */
  send: (id: string, text: string, queue = false, attachments: string[] = []) =>
    request<TurnAccepted>("POST", `/sessions/${enc(id)}/turns`, {
      text,
      ...(queue ? { queue } : {}),
      ...(attachments.length > 0 ? { attachments } : {}),
    } satisfies StartTurn),
  /** Upload a file to send with a prompt (raw body, its type, `?name=`). */
  upload: (id: string, file: File) =>
    send<Attachment>(`${API}/sessions/${enc(id)}/uploads?name=${enc(file.name || "upload")}`, {
      method: "POST",
      headers: { "content-type": file.type || "application/octet-stream" },
      body: file,
    }),
  /** Take a queued turn out of the queue. */
  unqueue: (id: string, turnId: string) => request<Session>("DELETE", `/sessions/${enc(id)}/turns/${enc(turnId)}`),
  cancel: (id: string) => request<void>("POST", `/sessions/${enc(id)}/cancel`),
  events: (id: string, after: number, limit?: number) =>
    request<EventsPage>(
      "GET",
      `/sessions/${enc(id)}/events?after=${after}${limit === undefined ? "" : `&limit=${limit}`}`,
    ),
  prompts: () => request<PromptList>("GET", "/prompts"),
  answer: (id: string, promptId: string, answer: Answer) =>
    request<Resolved>("POST", `/sessions/${enc(id)}/prompts/${enc(promptId)}`, answer),
  markRead: (id: string, seq: number) =>
    request<Session>("POST", `/sessions/${enc(id)}/read`, { seq } satisfies MarkRead),
};

export type Api = typeof api;
