// optd dashboard: the router. Pages live in the URL fragment, which the
// browser never sends: #/sessions[?state=&label=&page_size=],
// #/session/<id>, #/server. Leaving a page aborts its requests and polls.
"use strict";

(function () {
  let controller = null;

  function route() {
    if (controller) controller.abort();
    controller = new AbortController();
    optd.destroyCharts();
    optd.setLive(false, "");
    const app = document.getElementById("app");
    app.replaceChildren();
    const hash = location.hash.replace(/^#/, "") || "/sessions";
    const [path, qs] = hash.split("?");
    const query = new URLSearchParams(qs || "");
    document.getElementById("nav-sessions").classList.toggle("active", path.startsWith("/session"));
    document.getElementById("nav-server").classList.toggle("active", path === "/server");
    if (path.startsWith("/session/")) {
      const id = decodeURIComponent(path.slice("/session/".length));
      document.title = id + " · optd";
      optd.showSession(app, id, controller.signal);
    } else if (path === "/server") {
      document.title = "server · optd";
      optd.showServer(app, controller.signal);
    } else {
      document.title = "sessions · optd";
      optd.showSessionList(app, query, controller.signal);
    }
  }

  window.addEventListener("hashchange", route);
  optd.showSignOut();
  route();
})();
