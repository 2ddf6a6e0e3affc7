// The Telegram user's app: polls the sandbox for the chat and posts what the user does.
(function () {
  "use strict";
  const root = document.getElementById("chat");
  const list = document.getElementById("messages");
  const note = document.getElementById("note");
  const input = document.getElementById("text");
  const blocked = document.getElementById("blocked");
  let lastState = "";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text; // never innerHTML: message texts come from outside
    return node;
  }

  function bubble(m) {
    const mine = m.from === "customer";
    const item = el("li", "msg " + (mine ? "mine" : "theirs"));
    item.dataset.id = m.id;
    if (m.kind !== "text") item.append(el("div", "quote", m.kind));
    item.append(el("div", "text", m.text));
    if (m.edits.length) item.append(el("div", "meta", "edited"));
    ((m.reply_markup && m.reply_markup.inline_keyboard) || []).flat().forEach((b) => {
      const tap = el("button", "small", b.text);
      tap.type = "button";
      tap.addEventListener("click", () => send({ kind: "tap", message_id: m.id, data: b.callback_data }));
      item.append(tap);
    });
    return item;
  }

  async function refresh() {
    let text;
    try {
      const response = await fetch(root.dataset.stateUrl, { cache: "no-store" });
      if (!response.ok) return;
      text = await response.text();
    } catch (e) {
      return;
    }
    if (text === lastState) return;
    lastState = text;
    const state = JSON.parse(text);
    list.replaceChildren(...state.messages.map(bubble));
    blocked.checked = state.blocked;
    list.scrollTop = list.scrollHeight;
  }

  async function send(action) {
    note.textContent = "Sending…";
    const response = await fetch(root.dataset.sendUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
      body: JSON.stringify(action),
    });
    const answer = await response.json();
    if (!response.ok) {
      note.textContent = answer.error;
    } else if (answer.webhook_status === null) {
      note.textContent = answer.blocked ? "You blocked the bot." : "Nothing answered the webhook.";
    } else {
      note.textContent = `Switchboard answered HTTP ${answer.webhook_status}`;
    }
    lastState = "";
    refresh();
  }

  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    send({ kind: "text", text: input.value });
    input.value = "";
  });
  root.querySelectorAll("[data-send]").forEach((b) =>
    b.addEventListener("click", () => {
      const kind = b.dataset.send;
      if (kind === "edit") send({ kind, text: input.value });
      else if (kind === "contact") send({ kind, phone: input.value || "+39 333 123 4567" });
      else send({ kind, caption: input.value });
      input.value = "";
    }));
  blocked.addEventListener("change", () => send({ kind: "block", blocked: blocked.checked }));
  refresh();
  setInterval(refresh, 1000);
})();
