// The customer's phone: polls the sandbox for the chat and posts what the customer does.
(function () {
  "use strict";
  const root = document.getElementById("chat");
  const list = document.getElementById("messages");
  const note = document.getElementById("note");
  const typing = document.getElementById("typing");
  const input = document.getElementById("text");
  const TICKS = { accepted: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠" };
  let lastState = "";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text; // never innerHTML: message texts come from outside
    return node;
  }

  function button(label, title, action) {
    const node = el("button", "small", label);
    node.type = "button";
    node.title = title;
    node.addEventListener("click", () => send(action));
    return node;
  }

  function ticks(m) {
    if (m.from === "business") return TICKS[m.status] || "";
    if (m.status === "read") return "✓✓";
    return m.webhook_status === 200 ? "✓✓" : "⚠";
  }

  function bubble(m) {
    const mine = m.from === "customer";
    const item = el("li", "msg " + (mine ? "mine" : "theirs"));
    if (m.reply_to_text) item.append(el("div", "quote", m.reply_to_text));
    item.append(el("div", "text", m.text));
    m.choices.forEach((title, i) =>
      item.append(button(title, "Tap as the customer", { kind: "choice", message_id: m.id, choice: i })));
    const meta = el("div", "meta", m.time + " ");
    const tick = el("span", "ticks" + (m.status === "read" ? " read" : ""), ticks(m));
    meta.append(tick);
    if (m.error) meta.append(el("span", "error", " " + m.error));
    if (mine && m.webhook_status !== 200) {
      meta.append(el("span", "error", m.webhook_status ? ` HTTP ${m.webhook_status} ` : " no answer "));
      meta.append(button("↻", "Post the same webhook again", { kind: "resend", message_id: m.id }));
    }
    if (!mine) meta.append(button("👍", "React", { kind: "reaction", message_id: m.id, emoji: "👍" }));
    item.append(meta);
    if (m.reaction) item.append(el("span", "reaction", m.reaction));
    return item;
  }

  async function refresh() {
    let text;
    try {
      const response = await fetch(root.dataset.stateUrl, { cache: "no-store" });
      if (!response.ok) return;
      text = await response.text();
    } catch (e) {
      return; // the server restarted or is busy; the next poll tries again
    }
    if (text === lastState) return;
    lastState = text;
    const state = JSON.parse(text);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren(...state.messages.map(bubble));
    typing.hidden = !state.typing;
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  async function send(action) {
    note.textContent = "Sending…";
    note.className = "note";
    try {
      const response = await fetch(root.dataset.sendUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
        body: JSON.stringify({ ...action, name: root.dataset.name }),
      });
      const body = await response.json();
      const ok = body.webhook_status === 200;
      note.textContent = body.error
        || (body.webhook_status ? `Switchboard answered HTTP ${body.webhook_status}`
          : `Switchboard did not answer at ${body.webhook_url}`);
      note.className = "note " + (ok ? "ok" : "bad");
    } catch (e) {
      note.textContent = "The sandbox did not answer.";
      note.className = "note bad";
    }
    refresh();
  }

  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    send({ kind: "text", text: input.value });
    input.value = "";
  });
  document.querySelectorAll("[data-send]").forEach((node) =>
    node.addEventListener("click", () => send({ kind: node.dataset.send })));

  refresh();
  setInterval(refresh, 1000);
})();
