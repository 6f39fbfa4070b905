// The Events tab, live: new events of the dataset appear at the top of the list as they
// happen. The page works without this script (its rows are the server's); with it, an
// EventSource follows the dataset's stream (web/events.py), which starts right after the
// newest row the page shows, and every event it sends fills a copy of the page's own row
// <template>. Everything from the server goes in as text (textContent), never as markup.
"use strict";

(function () {
  const list = document.getElementById("events");
  const skeleton = document.getElementById("event-row");
  const status = document.getElementById("events-status");
  const empty = document.getElementById("events-empty");
  if (!list || !skeleton || !status || !list.dataset.stream || !window.EventSource) {
    return;
  }
  // The newest event shown: one sent again (it cannot be, but a reconnect is cheap to
  // guard) is not shown twice.
  const first = list.querySelector("li[data-seq]");
  let newest = first ? Number(first.dataset.seq) : 0;

  function say(text) {
    status.textContent = text;
    status.hidden = false;
  }

  function field(item, name) {
    return item.querySelector('[data-field="' + name + '"]');
  }

  function rowOf(event) {
    const item = skeleton.content.firstElementChild.cloneNode(true);
    item.dataset.seq = String(event.seq);
    field(item, "kind").textContent = event.kind;
    const version = field(item, "version");
    if (event.url === null) {
      version.remove();
    } else {
      version.setAttribute("href", event.url);
      version.textContent = "v" + event.version;
    }
    field(item, "who").textContent = event.who;
    const moment = field(item, "when");
    moment.setAttribute("datetime", event.created);
    moment.textContent = event.when;
    const summary = field(item, "summary");
    if (event.summary) {
      summary.textContent = event.summary;
    } else {
      summary.remove();
    }
    return item;
  }

  const source = new EventSource(list.dataset.stream);
  source.addEventListener("open", function () {
    say("Live: new events appear at the top.");
  });
  source.addEventListener("message", function (message) {
    const event = JSON.parse(message.data);
    if (event.seq <= newest) {
      return;
    }
    newest = event.seq;
    list.prepend(rowOf(event));
    if (empty) {
      empty.hidden = true;
    }
  });
  // The server ends the stream when this session may no longer read the dataset.
  source.addEventListener("close", function (message) {
    source.close();
    say("Stopped: " + JSON.parse(message.data).reason);
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      say("Stopped: reload the page to follow new events again.");
    } else {
      say("Reconnecting…");
    }
  });
})();
