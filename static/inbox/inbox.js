// Switchboard inbox: keeps the list and the conversation live by polling JSON endpoints.
// A poll always asks "what changed after what I hold", so after the network drops and returns
// the next successful poll catches up without a reload.
(function () {
  "use strict";
  var POLL_MS = 2500;
  var offline = document.getElementById("offline");

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

  function loop(task) {
    function tick() {
      task()
        .then(function () { setOffline(false); })
        .catch(function () { setOffline(true); })
        .then(function () { window.setTimeout(tick, POLL_MS); });
    }
    window.setTimeout(tick, POLL_MS);
  }

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  // ---- The list -------------------------------------------------------------------------
  var list = document.getElementById("conversations");
  if (list) {
    loop(function () {
      return fetchJson(list.dataset.poll).then(function (data) {
        var rows = document.createDocumentFragment();
        if (!data.rows.length) {
          var empty = document.createElement("li");
          empty.className = "empty";
          empty.textContent = data.empty;
          rows.appendChild(empty);
        }
        data.rows.forEach(function (row) { rows.appendChild(fragment(row.html)); });
        list.replaceChildren(rows);
      });
    });
  }

  // ---- A conversation -------------------------------------------------------------------
  var page = document.getElementById("conversation");
  if (!page) return;
  var strings = JSON.parse(document.getElementById("i18n-data").textContent);
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

  loop(function () {
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
