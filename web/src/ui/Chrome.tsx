// The page's frame: the connection banner, toasts and the login page.

import { useEffect, useState } from "react";
import { useServices, useStore } from "./hooks";

/** Connecting / reconnecting (with the countdown) / offline. Hidden while connected. */
export function ConnectionBanner() {
  const { connection } = useServices();
  const info = useStore((s) => s.connection);
  const [now, setNow] = useState(() => Date.now());
  // A first connect that takes a moment is not worth a banner; show it after 600 ms.
  const [late, setLate] = useState(false);

  useEffect(() => {
    if (info.state !== "reconnecting" || info.retryAt === null) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [info.state, info.retryAt]);

  useEffect(() => {
    if (info.state !== "connecting") return;
    const t = setTimeout(() => setLate(true), 600);
    return () => clearTimeout(t);
  }, [info.state]);

  if (info.state === "open" || (info.state === "connecting" && !late)) return null;
  let text: string;
  if (info.state === "offline") text = "You are offline. berth reconnects when the network is back; your sessions keep running.";
  else if (info.state === "connecting") text = "Connecting to berth…";
  else {
    const secs = info.retryAt === null ? 0 : Math.max(0, Math.ceil((info.retryAt - now) / 1000));
    text = secs > 0 ? `Connection lost. Reconnecting in ${secs} s… Your sessions keep running.` : "Connection lost. Reconnecting…";
  }
  return (
    <div className={`banner banner-${info.state}`} role="status" data-testid="connection-banner" data-state={info.state}>
      <span>{text}</span>
      {info.state !== "connecting" ? (
        <button type="button" className="btn small" onClick={() => connection.retryNow()}>
          Retry now
        </button>
      ) : null}
    </div>
  );
}

export function Toasts() {
  const { store } = useServices();
  // Each toast dismisses itself: the store starts one timer per toast when it is shown.
  const toasts = useStore((s) => s.toasts);
  return (
    <div className="toasts" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} className={`toast ${t.level}`} data-testid="toast">
          <span>{t.text}</span>
          <button type="button" className="btn icon" aria-label="Dismiss" onClick={() => store.dismissToast(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

/** Shown when the API answers 401: how to get in. */
export function Login() {
  return (
    <main className="login" data-testid="login">
      <div className="login-card">
        <h1>berth</h1>
        <p>This berth server needs its access token.</p>
        <ol>
          <li>
            Open the URL the server printed when it started: <code>http://…/?token=…</code>
          </li>
          <li>
            Or run <code>berth token</code> on the server's machine and open <code>/?token=&lt;token&gt;</code> here.
          </li>
        </ol>
        <p className="muted">The token is exchanged for a cookie and removed from the address bar.</p>
        <button type="button" className="btn" onClick={() => location.reload()}>
          Try again
        </button>
      </div>
    </main>
  );
}
