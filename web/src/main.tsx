// Composition root of the UI: the store, the tab's one WebSocket, the viewport that ties
// them, the router, and React on top.

import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { api, setUnauthorizedHandler } from "./api/rest";
import { Connection, socketUrl } from "./api/connection";
import { Store } from "./state/store";
import { Viewport } from "./state/viewport";
import { App } from "./ui/App";
import { Services, type AppServices, type Route } from "./ui/hooks";
import "./styles.css";

function parseRoute(loc: Location): Route {
  const m = /^\/s\/([^/]+)\/?$/.exec(loc.pathname);
  if (m) return { kind: "session", id: decodeURIComponent(m[1]!) };
  if (loc.hash === "#inbox") return { kind: "inbox" };
  return { kind: "root" };
}

function routeUrl(route: Route): string {
  switch (route.kind) {
    case "session":
      return `/s/${encodeURIComponent(route.id)}`;
    case "inbox":
      return "/#inbox";
    case "root":
      return "/";
  }
}

const store = new Store();
let setRoute: (r: Route) => void = () => {};

function navigate(to: Route): void {
  const url = routeUrl(to);
  const current = parseRoute(location);
  if (url === routeUrl(current)) return;
  // Leaving the root for the session it stands for replaces the entry (Back goes where the
  // user came from, not to a page that redirects again).
  if (current.kind === "root") history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  setRoute(to);
}

const viewport = new Viewport({
  store,
  api,
  onAttention: (summary, what) => {
    if (!document.hidden || typeof Notification === "undefined" || Notification.permission !== "granted") return;
    const body =
      what === "waiting" ? "is waiting for your answer" : what === "failed" ? "stopped with an error" : "finished its turn";
    const n = new Notification(summary.title || "berth session", { body: `${summary.agent} ${body}`, tag: summary.id });
    n.onclick = () => {
      window.focus();
      navigate({ kind: "session", id: summary.id });
      n.close();
    };
  },
  onDeleted: (id) => {
    const route = parseRoute(location);
    if (route.kind === "session" && route.id === id) navigate({ kind: "root" });
  },
});

const connection = new Connection({
  url: socketUrl(),
  onFrame: (frame) => viewport.handle(frame),
  onInfo: (info) => store.setConnection(info),
  onClosed: (opened) => {
    viewport.disconnected();
    // A socket refused before opening may mean the token is gone: ask REST, which says 401.
    if (!opened) void viewport.refreshSessions();
  },
});
viewport.setLink(connection);

setUnauthorizedHandler(() => {
  store.setAuth("required");
  connection.stop();
});

addEventListener("online", () => connection.setOffline(false));
addEventListener("offline", () => connection.setOffline(true));

void viewport.refreshSessions().then(() => {
  if (store.auth !== "required") connection.start();
});

const services: AppServices = { store, viewport, connection, api, navigate };

// A read-only handle for the end-to-end tests and for poking around in devtools.
(window as unknown as { berth: unknown }).berth = { store, viewport };

function Root() {
  const [route, set] = useState<Route>(() => parseRoute(location));
  useEffect(() => {
    setRoute = set;
    const onPop = () => set(parseRoute(location));
    addEventListener("popstate", onPop);
    addEventListener("hashchange", onPop);
    return () => {
      removeEventListener("popstate", onPop);
      removeEventListener("hashchange", onPop);
    };
  }, []);
  return (
    <Services.Provider value={services}>
      <App route={route} />
    </Services.Provider>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
