/* Switchboard website widget: a launcher and a panel in a shadow root. It sets no cookies and
   talks to nobody but the Switchboard that served it. */
(function (w, d) {
  "use strict";
  var CSS =
    ":host{all:initial}*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
    ".wrap{position:fixed;bottom:20px;z-index:2147483000}.inline{position:absolute}.inline .panel{max-height:470px}.right{right:20px}.left{left:20px}" +
    ".launcher{width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;background:var(--c);color:var(--t);" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}.launcher svg{width:28px;height:28px}" +
    "button:focus-visible,a:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}" +
    ".panel{position:absolute;bottom:68px;width:320px;max-width:calc(100vw - 40px);max-height:calc(100vh - 100px);overflow:auto;" +
    "background:#fff;color:#1b1b1b;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);font-size:14px;line-height:1.4}" +
    ".right .panel{right:0}.left .panel{left:0}.panel[hidden]{display:none}" +
    ".head{background:var(--c);color:var(--t);padding:12px 14px;display:flex;align-items:center;justify-content:space-between;border-radius:12px 12px 0 0}" +
    "h2{margin:0;font-size:16px}.x{background:transparent;border:0;color:inherit;font-size:22px;cursor:pointer;line-height:1;padding:4px 8px}" +
    ".body{padding:12px 14px}p{margin:0 0 10px}.hours{background:#fff4d6;padding:8px;border-radius:6px}.note{color:#555;font-size:12px}" +
    ".entry{border-top:1px solid #eee;padding:10px 0}h3{margin:0 0 6px;font-size:14px}img{display:block;width:168px;height:168px;margin:6px auto}" +
    ".link{display:block;text-align:center;background:var(--c);color:var(--t);text-decoration:none;padding:9px;border-radius:8px;font-weight:600}" +
    "small{display:block;color:#555;text-align:center;margin-bottom:6px}";
  var ICON =
    '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" ' +
    'd="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg>';

  function el(tag, attrs, text) {
    var node = d.createElement(tag);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text) node.textContent = text;
    return node;
  }

  function isPhone() {
    return (w.matchMedia && w.matchMedia("(pointer: coarse)").matches) ||
      /Android|iPhone|iPad|iPod|Mobile/i.test(navigator.userAgent);
  }

  function link(href, text) {
    return el("a", { "class": "link", href: href, target: "_blank", rel: "noopener noreferrer" }, text);
  }

  function draw(parent, cfg, options) {
    var s = cfg.strings, host = el("div", { "data-switchboard-widget": options.key || "preview" });
    var root = host.attachShadow({ mode: "open" });
    var side = cfg.position === "bottom-left" ? "left" : "right";
    var wrap = el("div", { "class": "wrap " + side + (options.inline ? " inline" : "") });
    wrap.style.setProperty("--c", cfg.color);
    wrap.style.setProperty("--t", cfg.textColor);
    var launcher = el("button", { type: "button", "class": "launcher", "aria-label": s.open,
      "aria-expanded": "false", "aria-controls": "sbw-panel" });
    launcher.innerHTML = ICON;
    var panel = el("div", { id: "sbw-panel", "class": "panel", role: "dialog", "aria-modal": "true",
      "aria-labelledby": "sbw-title" });
    panel.hidden = true;
    var head = el("div", { "class": "head" });
    head.appendChild(el("h2", { id: "sbw-title" }, cfg.name || s.title));
    var closer = el("button", { type: "button", "class": "x", "aria-label": s.close }, "\u00d7");
    head.appendChild(closer);
    var body = el("div", { "class": "body" });
    body.appendChild(el("p", {}, cfg.greeting));
    body.appendChild(el("p", { "class": cfg.openNow ? "note" : "hours" },
      cfg.openNow ? cfg.hours : s.closed.replace("%s", cfg.hours)));
    var list = el("div", { "class": "entries" });
    body.appendChild(list);
    panel.appendChild(head);
    panel.appendChild(body);
    wrap.appendChild(panel);
    wrap.appendChild(launcher);
    var style = el("style");
    style.textContent = CSS;
    root.appendChild(style);
    root.appendChild(wrap);
    parent.appendChild(host);

    var links = options.links, asking = false, phone = isPhone();
    function fill() {
      var byId = {};
      links.entries.forEach(function (l) { byId[l.id] = l; });
      list.textContent = "";
      cfg.entries.forEach(function (entry) {
        var l = byId[entry.id];
        if (!l) return;
        var box = el("section", { "class": "entry", "aria-label": entry.label });
        box.appendChild(el("h3", {}, entry.label));
        var telegram = entry.kind === "telegram";
        if (phone) {
          box.appendChild(link(l.app, telegram ? s.telegram : s.app));
        } else {
          box.appendChild(el("img", { src: l.qr, alt: s.qr_alt.replace("%s", entry.label),
            width: "168", height: "168", referrerpolicy: "no-referrer", crossorigin: "anonymous" }));
          box.appendChild(el("small", {}, telegram ? s.scan_telegram : s.scan));
          box.appendChild(telegram ? link(l.app, s.telegram) : link(l.web, s.web));
        }
        list.appendChild(box);
      });
    }
    function focusables() {
      return Array.prototype.slice.call(panel.querySelectorAll("button, a[href]"));
    }
    function open(focusIt) {
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      if (focusIt !== false) closer.focus();
      if (links) return fill();
      if (asking) return;
      asking = true;
      fetch(options.base + "/widget/" + options.key + "/reference", {
        method: "POST", mode: "cors", credentials: "omit",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: "page=" + encodeURIComponent(w.location.href)
      }).then(function (r) { if (!r.ok) throw r; return r.json(); })
        .then(function (answer) { links = answer; fill(); })
        .catch(function () {})
        .then(function () { asking = false; });
    }
    function close() {
      panel.hidden = true;
      launcher.setAttribute("aria-expanded", "false");
      launcher.focus();
    }
    launcher.addEventListener("click", function () { if (panel.hidden) open(); else close(); });
    closer.addEventListener("click", close);
    root.addEventListener("keydown", function (ev) {
      if (panel.hidden) return;
      if (ev.key === "Escape") { ev.preventDefault(); close(); return; }
      if (ev.key !== "Tab") return;
      var items = focusables(), first = items[0], last = items[items.length - 1];
      var active = root.activeElement;
      if (ev.shiftKey && (active === first || !panel.contains(active))) { ev.preventDefault(); last.focus(); }
      else if (!ev.shiftKey && (active === last || !panel.contains(active))) { ev.preventDefault(); first.focus(); }
    });
    if (options.startOpen) open(false);
    return host;
  }

  function mount(options) {
    if (!options || !options.key || !options.base) return;
    var url = options.base + "/widget/" + options.key + "/config?lang=" + encodeURIComponent(navigator.language || "");
    fetch(url, { mode: "cors", credentials: "omit" })
      .then(function (r) { if (!r.ok) throw r; return r.json(); })
      .then(function (cfg) { draw(d.body, cfg, options); })
      .catch(function () {});
  }

  var queued = w.SwitchboardWidget;
  w.SwitchboardWidget = {
    push: mount,
    // The admin's live preview: drawn inside `container` with the links it is given.
    preview: function (container, cfg, links) {
      return draw(container, cfg, { inline: true, links: links, startOpen: true });
    }
  };
  if (queued && queued.length) for (var i = 0; i < queued.length; i++) mount(queued[i]);
})(window, document);
