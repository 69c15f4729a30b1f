/* Trellis page behaviour: CSRF on every htmx and fetch request, the mobile sidebar,
   dropdown menus, dismissible alerts, the "/" search shortcut and error toasts.
   Small on purpose: screens are server-rendered; htmx does partial updates. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  var SAFE_METHODS = { GET: 1, HEAD: 1, OPTIONS: 1, TRACE: 1 };

  /* Same-origin fetch with the CSRF header, for screens that need plain JS. */
  function trellisFetch(url, options) {
    options = options || {};
    var method = (options.method || "GET").toUpperCase();
    var headers = new Headers(options.headers || {});
    if (!SAFE_METHODS[method]) headers.set("X-CSRFToken", csrfToken());
    options.headers = headers;
    options.credentials = options.credentials || "same-origin";
    return fetch(url, options);
  }

  function toast(message, kind) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var item = document.createElement("div");
    item.className = "toast" + (kind ? " toast-" + kind : "");
    item.setAttribute("role", kind === "error" ? "alert" : "status");
    item.textContent = message; /* never innerHTML: messages may carry data */
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 6000);
  }

  window.trellis = { csrfToken: csrfToken, fetch: trellisFetch, toast: toast };

  /* htmx: send the token on every request (Flask-WTF reads X-CSRFToken). */
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRFToken"] = csrfToken();
  });

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var box = document.getElementById("toasts");
    var fallback = box ? box.getAttribute("data-error-text") : "Error";
    var message = fallback;
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (e) { /* an HTML error page: keep the generic text */ }
    toast(message, "error");
  });

  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("toasts");
    toast(box ? box.getAttribute("data-error-text") : "Network error", "error");
  });

  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }

  function setNav(open) {
    var shell = document.querySelector("[data-shell]");
    var toggle = document.querySelector("[data-nav-toggle]");
    if (!shell) return;
    shell.classList.toggle("nav-open", open);
    if (toggle) toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var menu = target.closest("details[data-menu]");
    closeMenus(menu);
    if (target.closest("[data-nav-toggle]")) {
      var shell = document.querySelector("[data-shell]");
      setNav(!(shell && shell.classList.contains("nav-open")));
    } else if (target.closest("[data-nav-close]")) {
      setNav(false);
    }
    var dismiss = target.closest("[data-dismiss]");
    if (dismiss) {
      var alert = dismiss.closest("[data-dismissible]");
      if (alert) alert.remove();
    }
  });

  document.addEventListener("toggle", function (event) {
    var el = event.target;
    if (el.matches && el.matches("details[data-menu]") && el.open) {
      var first = el.querySelector(".menu-panel button, .menu-panel a");
      if (first && document.activeElement && el.contains(document.activeElement)) first.focus();
    }
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      var open = document.querySelector("details[data-menu][open]");
      if (open) {
        open.removeAttribute("open");
        var summary = open.querySelector("summary");
        if (summary) summary.focus();
      }
      setNav(false);
      return;
    }
    var tag = (event.target.tagName || "").toLowerCase();
    var typing = tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable;
    if (event.key === "/" && !typing && !event.metaKey && !event.ctrlKey && !event.altKey) {
      var search = document.querySelector("[data-search-shortcut]");
      if (search) {
        event.preventDefault();
        search.focus();
        search.select();
      }
    }
  });
})();
