// guichet console: the little JavaScript the console needs. Every page works without it.
// - After an action, focus goes to the status notice the server put in the page (the
//   link's #fragment names it), so that a screen reader says what happened.
// - The inbox listens to /console/inbox/events (server-sent events): each `inbox` event
//   is the list rendered (and escaped) by the server; it replaces the list, updates the
//   count in the document's title, and announces new tickets in the live region.
"use strict";

(function () {
  function focusTarget() {
    var id = location.hash.slice(1);
    if (!id) return;
    var el = document.getElementById(id);
    if (el && el.hasAttribute("tabindex")) el.focus();
  }

  function ids(list) {
    var seen = {};
    list.querySelectorAll("[data-ticket]").forEach(function (li) {
      seen[li.getAttribute("data-ticket")] = li.getAttribute("data-service") || "";
    });
    return seen;
  }

  function liveInbox() {
    var list = document.getElementById("inbox-list");
    var live = document.getElementById("inbox-live");
    var state = document.getElementById("inbox-state");
    if (!list || !live || typeof EventSource === "undefined") return;
    var known = ids(list);

    function setTitle(open) {
      document.title = document.title.replace(/^\(\d+\) /, "(" + open + ") ");
    }

    var source = new EventSource("/console/inbox/events");
    source.addEventListener("inbox", function (event) {
      var template = document.createElement("template");
      template.innerHTML = event.data;
      var fresh = template.content.getElementById("inbox-list");
      if (!fresh) return;
      // Keep the focus on the same ticket's link when the list is replaced.
      var focused = document.activeElement;
      var href = focused && list.contains(focused) ? focused.getAttribute("href") : null;
      list.replaceWith(fresh);
      list = fresh;
      if (href) {
        var again = list.querySelector('a[href="' + href + '"]');
        if (again) again.focus();
      }
      setTitle(list.getAttribute("data-open") || "0");
      var now = ids(list);
      var news = [];
      Object.keys(now).forEach(function (id) {
        if (!(id in known)) news.push("Nouvelle demande : service " + now[id]);
      });
      known = now;
      if (news.length) live.textContent = news.join(". ");
      if (state) state.textContent = "La liste se met à jour d'elle-même.";
    });
    source.addEventListener("error", function () {
      if (state) {
        state.textContent =
          "Mise à jour automatique interrompue ; nouvelle tentative… (ou « Actualiser »).";
      }
    });
  }

  function start() {
    focusTarget();
    liveInbox();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// Knowledge base: the "Imprimer" button of a printable sheet or booklet opens the
// browser's print dialog (no inline script: the console's CSP forbids it).
(() => {
  for (const b of document.querySelectorAll('[data-print]')) {
    b.addEventListener('click', () => window.print());
  }
})();
