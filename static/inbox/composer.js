// Switchboard reply box: quoting a message, canned responses typed as /shortcode with their
// variables, attachments checked against the channel before upload, Ctrl/Cmd+Enter to send.
// The server checks everything again; this only saves the agent a refused round trip.
(function () {
  "use strict";
  var NOTES_MS = 5000;
  var form = document.getElementById("reply-form");
  var thread = document.getElementById("thread");
  if (!thread) return;

  // ---- Internal notes written elsewhere appear without a reload (for readers too) ----------
  var notes = JSON.parse(document.getElementById("notes-data").textContent);
  function pollNotes() {
    fetch(notes.url + "?after=" + notes.last_id, {
      credentials: "same-origin", headers: { Accept: "application/json" }
    })
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
      .then(function (body) {
        var atEnd = thread.scrollTop + thread.clientHeight >= thread.scrollHeight - 40;
        body.notes.forEach(function (row) {
          if (document.getElementById(row.id)) return;
          var template = document.createElement("template");
          template.innerHTML = row.html.trim();
          thread.appendChild(template.content.firstElementChild);
        });
        notes.last_id = Math.max(notes.last_id, body.last_id);
        if (body.notes.length && atEnd) thread.scrollTop = thread.scrollHeight;
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { window.setTimeout(pollNotes, NOTES_MS); });
  }
  window.setTimeout(pollNotes, NOTES_MS);

  if (!form) return;
  var data = JSON.parse(document.getElementById("composer-data").textContent);
  var strings = data.strings;
  var text = document.getElementById("reply-text");
  var replyTo = document.getElementById("reply-to");
  var quotePreview = document.getElementById("quote-preview");
  var quoteText = document.getElementById("quote-text");
  var menu = document.getElementById("canned-menu");
  var vars = document.getElementById("canned-vars");
  var cannedId = document.getElementById("canned-id");
  var cannedAttachment = document.getElementById("canned-attachment");
  var fileInput = document.getElementById("attachment");
  var fileName = document.getElementById("attachment-name");
  var attachError = document.getElementById("attach-error");
  var VARIABLE = /\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}/g;

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (match, key) { return values[key]; });
  }

  // ---- Quote-reply: delegated, so messages that arrive by polling can be quoted too --------
  thread.addEventListener("click", function (event) {
    var button = event.target.closest(".quote-button");
    if (!button) return;
    replyTo.value = button.dataset.quote;
    quoteText.textContent = button.dataset.quoteText;
    quotePreview.hidden = false;
    form.hidden = false;
    text.focus();
  });
  // Our own message gets its provider id once the provider accepts it: the ticks moving past
  // "sending" say so, and only then can the customer's app show it quoted.
  var ACCEPTED = { sent: true, delivered: true, read: true };
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      var ticks = change.target;
      if (!ticks.classList || !ticks.classList.contains("ticks") || !ACCEPTED[ticks.dataset.status]) return;
      var button = ticks.closest("li.msg").querySelector(".quote-button[data-needs-id]");
      if (button) { button.hidden = false; delete button.dataset.needsId; }
    });
  }).observe(thread, { subtree: true, attributes: true, attributeFilter: ["data-status"] });

  document.getElementById("quote-cancel").addEventListener("click", function () {
    replyTo.value = "";
    quotePreview.hidden = true;
  });

  // ---- Ctrl/Cmd+Enter sends, from anywhere in the reply box ----------------------------
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      event.stopPropagation();
      form.requestSubmit();
    }
  });

  text.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || menu.hidden) return;
    var items = menu.querySelectorAll("li[data-id]");
    var active = menu.querySelector("li.active");
    var index = Array.prototype.indexOf.call(items, active);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!items.length) return;
      index = (index + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      items.forEach(function (item, n) { item.classList.toggle("active", n === index); });
    } else if (event.key === "Enter" && active) {
      event.preventDefault();
      active.click();
    } else if (event.key === "Escape") {
      menu.hidden = true;
    }
  });

  // ---- Canned responses ----------------------------------------------------------------
  var results = [];
  var pending = 0;

  function slashQuery() {
    // The word being typed, when it starts with "/" at the start of the text or after a space.
    var before = text.value.slice(0, text.selectionStart);
    var match = /(^|\s)\/([^\s]*)$/.exec(before);
    return match ? { query: match[2], start: before.length - match[2].length - 1 } : null;
  }

  function showMenu(list) {
    results = list;
    menu.replaceChildren();
    if (!list.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = strings.none;
      menu.appendChild(empty);
    }
    list.forEach(function (canned, n) {
      var item = document.createElement("li");
      item.dataset.id = canned.id;
      item.setAttribute("role", "option");
      if (n === 0) item.className = "active";
      var code = document.createElement("strong");
      code.textContent = "/" + canned.shortcode;
      var title = document.createElement("span");
      title.textContent = " " + canned.title + (canned.attachment ? " 📎" : "") + (canned.personal ? " ·" : "");
      var body = document.createElement("small");
      body.textContent = canned.text;
      item.append(code, title, body);
      item.addEventListener("mousedown", function (event) { event.preventDefault(); });
      item.addEventListener("click", function () { choose(canned); });
      menu.appendChild(item);
    });
    menu.hidden = false;
  }

  text.addEventListener("input", function () {
    var slash = slashQuery();
    if (!slash) { menu.hidden = true; return; }
    var ticket = ++pending;
    fetch(form.dataset.canned + "?q=" + encodeURIComponent(slash.query), {
      credentials: "same-origin", headers: { Accept: "application/json" }
    })
      .then(function (response) { return response.json(); })
      .then(function (body) { if (ticket === pending && slashQuery()) showMenu(body.results); })
      .catch(function () { menu.hidden = true; });
  });
  text.addEventListener("blur", function () { window.setTimeout(function () { menu.hidden = true; }, 150); });

  function choose(canned) {
    var slash = slashQuery();
    var start = slash ? slash.start : text.selectionStart;
    var end = text.selectionStart;
    text.value = text.value.slice(0, start) + canned.text + text.value.slice(end);
    menu.hidden = true;
    if (canned.attachment) {
      cannedId.value = canned.id;
      cannedAttachment.querySelector("span").textContent = "📎 " + canned.attachment;
      cannedAttachment.hidden = false;
    }
    askVariables(canned.missing);
    text.focus();
  }

  function askVariables(missing) {
    vars.replaceChildren();
    if (!missing.length) { vars.hidden = true; return; }
    missing.forEach(function (name) {
      var label = document.createElement("label");
      label.textContent = strings.fill + " {{" + name + "}} ";
      var input = document.createElement("input");
      input.dataset.variable = name;
      label.appendChild(input);
      vars.appendChild(label);
    });
    var apply = document.createElement("button");
    apply.type = "button";
    apply.id = "canned-vars-apply";
    apply.textContent = strings.apply;
    apply.addEventListener("click", applyVariables);
    vars.appendChild(apply);
    vars.hidden = false;
    vars.querySelector("input").focus();
  }

  function applyVariables() {
    var inputs = vars.querySelectorAll("input[data-variable]");
    var values = {};
    inputs.forEach(function (input) { if (input.value.trim()) values[input.dataset.variable] = input.value.trim(); });
    text.value = text.value.replace(VARIABLE, function (match, name) {
      return values[name] !== undefined ? values[name] : match;
    });
    VARIABLE.lastIndex = 0;
    if (!VARIABLE.test(text.value)) {
      vars.hidden = true;
      vars.replaceChildren();
      attachError.hidden = true;
    }
    VARIABLE.lastIndex = 0;
  }

  vars.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) { event.preventDefault(); applyVariables(); }
  });

  document.getElementById("canned-attachment-remove").addEventListener("click", function () {
    cannedId.value = "";
    cannedAttachment.hidden = true;
  });

  // ---- Attachments: the channel's limits, before anything is uploaded -----------------
  function kindOf(type) {
    var family = type.split("/")[0];
    var kind = { image: "image", video: "video", audio: "audio" }[family] || "document";
    var limit = data.media[kind];
    if (kind !== "document" && (!limit || (limit.mime_types.length && limit.mime_types.indexOf(type) < 0))) {
      return "document";  // as the server does: a file the channel takes only as a document
    }
    return kind;
  }

  function attachmentProblem(file) {
    var type = (file.type || "application/octet-stream").toLowerCase();
    var limit = data.media[kindOf(type)];
    if (!limit || (limit.mime_types.length && limit.mime_types.indexOf(type) < 0)) {
      return format(strings.no_type, { type: type });
    }
    if (file.size > limit.max_bytes) {
      return format(strings.too_big, {
        size: (file.size / 1048576).toFixed(1), max: Math.floor(limit.max_bytes / 1048576)
      });
    }
    return "";
  }

  fileInput.addEventListener("change", function () {
    var file = fileInput.files[0];
    attachError.hidden = true;
    fileName.textContent = "";
    if (!file) return;
    var problem = attachmentProblem(file);
    if (problem) {
      fileInput.value = "";
      attachError.textContent = problem;
      attachError.hidden = false;
      return;
    }
    fileName.textContent = file.name;
  });

  form.addEventListener("submit", function (event) {
    VARIABLE.lastIndex = 0;
    var unfilled = VARIABLE.exec(text.value);
    VARIABLE.lastIndex = 0;
    if (unfilled) {
      event.preventDefault();
      attachError.textContent = format(strings.unfilled, { variable: unfilled[0] });
      attachError.hidden = false;
      return;
    }
    if (!text.value.trim() && !fileInput.files.length && !cannedId.value) {
      event.preventDefault();
      text.focus();
    }
  });
})();
