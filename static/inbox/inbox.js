// Switchboard inbox: the list and the conversation stay live through a WebSocket (/inbox/live)
// that says what changed; the page then reads the rows it shows (in the reader's language, with
// their unread counts). Ticks arrive whole on the socket. While the socket cannot open, the page
// polls instead; every read asks "what changed after what I hold" (the thread's cursor is the
// last message id, the list is read whole), so a reconnect catches up without a reload.
(function () {
  "use strict";
  var POLL_MS = 2500;
  var RECONNECT_MAX_MS = 30000;
  var PING_MS = 25000;
  var offline = document.getElementById("offline");
  var liveBadge = document.getElementById("live");

  function setOffline(isOffline) {
    if (offline) offline.hidden = !isOffline;
  }

  function fetchJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.redirected) {
          window.location.reload();  // the session ended: let the login page take over
          throw new Error("logged out");
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      });
  }

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  // One read at a time; a change announced during a read triggers one more afterwards. The
  // promise settles once the reads asked for so far are done.
  function serialized(task) {
    var running = null, again = false;
    function run() {
      if (running) { again = true; return running; }
      running = task()
        .then(function () { setOffline(false); })
        .catch(function () { setOffline(true); })
        .then(function () {
          running = null;
          if (again) { again = false; return run(); }
        });
      return running;
    }
    return run;
  }

  // The socket, with polling as the fallback while it is down.
  function connectLive(handlers) {
    var socket = null, up = false, delay = 1000, pollTimer = null, pingTimer = null;
    var state = { get up() { return up; } };

    function poll() {
      if (up) { pollTimer = null; return; }
      handlers.catchUp();
      pollTimer = window.setTimeout(poll, POLL_MS);
    }
    function startPolling() {
      if (!pollTimer) pollTimer = window.setTimeout(poll, POLL_MS);
    }
    function stopPolling() {
      if (pollTimer) window.clearTimeout(pollTimer);
      pollTimer = null;
    }
    function open() {
      if (!("WebSocket" in window)) { startPolling(); return; }
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      try {
        socket = new WebSocket(scheme + window.location.host + "/inbox/live");
      } catch (error) {
        startPolling();
        return;
      }
      socket.onmessage = function (message) {
        var data;
        try { data = JSON.parse(message.data); } catch (error) { return; }
        if (data.type === "hello") {
          up = true;
          delay = 1000;
          stopPolling();
          setOffline(false);
          if (liveBadge) liveBadge.hidden = false;
          // Whatever changed while the socket was closed; "up" once the page holds it.
          handlers.catchUp().then(function () {
            if (up) document.documentElement.dataset.live = "up";
          });
          pingTimer = window.setInterval(function () {
            if (socket.readyState === 1) socket.send(JSON.stringify({ type: "ping" }));
          }, PING_MS);
        } else if (data.type !== "pong") {
          handlers.event(data);
        }
      };
      socket.onclose = function () {
        up = false;
        if (pingTimer) window.clearInterval(pingTimer);
        if (liveBadge) liveBadge.hidden = true;
        document.documentElement.dataset.live = "down";
        startPolling();
        window.setTimeout(open, delay);
        delay = Math.min(delay * 2, RECONNECT_MAX_MS);
      };
    }
    open();
    return state;
  }

  // ---- Getting attention: tab title, sound, desktop notification --------------------------
  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      var context = new Context();
      var tone = context.createOscillator();
      var gain = context.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.08;
      tone.connect(gain);
      gain.connect(context.destination);
      tone.start();
      tone.stop(context.currentTime + 0.15);
      tone.onended = function () { context.close(); };
    } catch (error) { /* no sound device: nothing to play on */ }
  }

  // ---- The list -------------------------------------------------------------------------
  var list = document.getElementById("conversations");
  if (list) {
    var listStrings = JSON.parse(document.getElementById("list-i18n").textContent);
    var unread = {};
    Array.prototype.forEach.call(list.querySelectorAll("li.row"), function (row) {
      unread[row.dataset.id] = parseInt(row.dataset.unread, 10) || 0;
    });

    var setTitle = function (total) {
      document.title = (total ? "(" + total + ") " : "") + listStrings.title + " · Switchboard";
      list.dataset.unreadTotal = String(total);
    };

    var announce = function (row) {
      if (list.dataset.sound === "1") {
        beep();
        list.dataset.sounds = String((parseInt(list.dataset.sounds, 10) || 0) + 1);
      }
      if (list.dataset.notify === "1" && "Notification" in window &&
          Notification.permission === "granted") {
        var note = new Notification(listStrings.new_message.replace("%s", row.name), {
          body: row.preview, tag: "conversation-" + row.id,
        });
        note.onclick = function () {
          window.focus();
          window.location.href = "/inbox/c/" + row.id + "/";
        };
      }
    };

    var refreshList = serialized(function () {
      return fetchJson(list.dataset.poll).then(function (data) {
        var rows = document.createDocumentFragment();
        if (!data.rows.length) {
          var empty = document.createElement("li");
          empty.className = "empty";
          empty.textContent = data.empty;
          rows.appendChild(empty);
        }
        var news = [];
        var seen = {};
        data.rows.forEach(function (row) {
          rows.appendChild(fragment(row.html));
          seen[row.id] = row.unread;
          if (row.unread > (unread[row.id] || 0)) news.push(row);
        });
        unread = seen;
        list.replaceChildren(rows);
        setTitle(data.unread_total);
        if (news.length) announce(news[0]);
      });
    });

    connectLive({
      catchUp: refreshList,
      event: function (data) {
        if (data.type === "conversation") refreshList();
      },
    });

    var preferences = document.getElementById("preferences-form");
    var note = document.getElementById("notify-note");
    var desktop = document.getElementById("pref-desktop");
    if (note && list.dataset.notify === "1" && "Notification" in window &&
        Notification.permission === "denied") {
      note.textContent = listStrings.denied;
      note.hidden = false;
    }
    if (preferences && desktop) {
      preferences.addEventListener("submit", function (event) {
        // Opting in asks the browser's permission first (it must follow a click).
        if (!desktop.checked || !("Notification" in window) ||
            Notification.permission === "granted") return;
        event.preventDefault();
        Notification.requestPermission().then(function () { preferences.submit(); });
      });
    }
  }

  // ---- A conversation -------------------------------------------------------------------
  var page = document.getElementById("conversation");
  if (!page) return;
  var strings = JSON.parse(document.getElementById("i18n-data").textContent);
  var conversationId = parseInt(page.dataset.id, 10);
  var thread = document.getElementById("thread");
  var lastId = parseInt(page.dataset.lastId, 10) || 0;
  var replyForm = document.getElementById("reply-form");
  var templateForm = document.getElementById("template-form");
  var windowLeft = document.getElementById("window-left");
  var assignee = document.getElementById("assignee");
  var closesAt = windowLeft && windowLeft.dataset.closesAt ? new Date(windowLeft.dataset.closesAt) : null;
  // A channel without a customer-service window has nothing to count down.
  var hasWindow = !!(windowLeft && windowLeft.dataset.windowHours);

  function scrollToEnd() { thread.scrollTop = thread.scrollHeight; }
  scrollToEnd();

  function showTicks(status) {
    var node = document.querySelector("#m" + status.id + " .ticks");
    if (!node || node.dataset.status === status.status) return;
    node.dataset.status = status.status;
    node.className = "ticks status-" + status.status;
    node.textContent = strings[status.status] || status.status;
    node.title = node.textContent + (status.error ? ": " + status.error : "");
    var error = node.parentNode.querySelector(".error");
    if (error) {
      error.textContent = status.status === "failed"
        ? (status.error || "") + (status.code ? " (" + status.code + ")" : "") : "";
    }
  }

  function countdown() {
    if (!windowLeft) return;
    if (!hasWindow) {
      windowLeft.textContent = "";
      return;
    }
    var left = closesAt ? closesAt.getTime() - Date.now() : 0;
    if (left <= 0) {
      windowLeft.textContent = strings.closed;
      return;
    }
    var minutes = Math.floor(left / 60000);
    var text = Math.floor(minutes / 60) + "h " + String(minutes % 60).padStart(2, "0") + "m";
    windowLeft.textContent = strings.left.replace("%s", text);
  }

  function applyState(state) {
    if (!replyForm) return;
    closesAt = state.window_closes_at ? new Date(state.window_closes_at) : null;
    hasWindow = state.window_hours !== null && state.window_hours !== undefined;
    // Never hide a form the agent is typing in; the server refuses a late send anyway.
    var typing = replyForm.contains(document.activeElement) ||
      (templateForm && templateForm.contains(document.activeElement));
    if (!typing) {
      replyForm.hidden = !state.window_open;
      if (templateForm) templateForm.hidden = state.window_open;
    }
    countdown();
  }

  countdown();
  window.setInterval(countdown, 30000);

  var catchUp = serialized(function () {
    return fetchJson(page.dataset.poll + "?after=" + lastId).then(function (data) {
      var atEnd = thread.scrollTop + thread.clientHeight >= thread.scrollHeight - 40;
      data.messages.forEach(function (row) {
        if (!document.getElementById("m" + row.id)) thread.appendChild(fragment(row.html));
      });
      lastId = Math.max(lastId, data.last_id);
      data.statuses.forEach(showTicks);
      applyState(data.state);
      // A manager may transfer the conversation while this page is open.
      if (assignee) assignee.textContent = data.assignee || strings.unassigned;
      if (data.messages.length && atEnd) scrollToEnd();
    });
  });

  connectLive({
    catchUp: catchUp,
    event: function (data) {
      if (data.type === "status" && data.conversation === conversationId) {
        showTicks({ id: data.message, status: data.status, error: data.error });
      } else if (data.type === "conversation" && data.id === conversationId) {
        catchUp();
      }
    },
  });

  // ---- Template picker: one field per parameter and a live preview ----------------------
  var select = document.getElementById("template-select");
  if (!select) return;
  var templates = JSON.parse(document.getElementById("templates-data").textContent);
  var params = document.getElementById("template-params");
  var preview = document.getElementById("template-preview");

  function current() {
    var id = parseInt(select.value, 10);
    return templates.filter(function (t) { return t.id === id; })[0];
  }

  function renderPreview() {
    var template = current();
    if (!template) { preview.textContent = ""; return; }
    var values = Array.prototype.map.call(
      params.querySelectorAll("input[name=body_params]"), function (input) { return input.value; });
    preview.textContent = template.body.replace(/\{\{\s*(\d+)\s*\}\}/g, function (match, n) {
      var value = values[parseInt(n, 10) - 1];
      return value ? value : match;
    });
  }

  function field(name, label) {
    var wrap = document.createElement("label");
    wrap.textContent = label + " ";
    var input = document.createElement("input");
    input.name = name;
    input.required = true;
    input.addEventListener("input", renderPreview);
    wrap.appendChild(input);
    return wrap;
  }

  select.addEventListener("change", function () {
    params.replaceChildren();
    var template = current();
    if (template) {
      for (var h = 1; h <= template.header_params; h++) params.appendChild(field("header_params", "Header {{" + h + "}}"));
      for (var b = 1; b <= template.body_params; b++) params.appendChild(field("body_params", "{{" + b + "}}"));
    }
    renderPreview();
  });
})();
