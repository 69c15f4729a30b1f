/* Record forms: child-table rows, link/user pickers, the small rich-text editor, the
   field states the server sends (/form-state) and confirmations for POST buttons.
   The server decides everything; this file only moves values and toggles attributes. */
(function () {
  "use strict";

  var form = function () { return document.querySelector("[data-record-form]"); };

  function changed(el) {
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }

  /* ---------------------------------------------------------- server field states */
  function applyStates(root) {
    (root || document).querySelectorAll(".field-state").forEach(function (marker) {
      var wrapper = marker.closest(".form-field");
      if (!wrapper) return;
      wrapper.hidden = marker.getAttribute("data-visible") === "0";
      var readonly = marker.getAttribute("data-readonly") === "1";
      wrapper.classList.toggle("is-readonly", readonly);
      var control = wrapper.querySelector(".field-control");
      if (control && !wrapper.classList.contains("kind-readonly")) {
        if (readonly) control.setAttribute("inert", ""); else control.removeAttribute("inert");
      }
      var required = marker.getAttribute("data-required") === "1";
      wrapper.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (input) {
        if (required) input.setAttribute("aria-required", "true"); else input.removeAttribute("aria-required");
      });
    });
    (root || document).querySelectorAll(".section-state").forEach(function (marker) {
      var section = marker.closest(".form-section");
      if (section) section.hidden = marker.getAttribute("data-visible") === "0";
    });
  }
  document.addEventListener("htmx:afterSettle", function () { applyStates(); });
  document.addEventListener("htmx:oobAfterSwap", function () { applyStates(); });

  /* ---------------------------------------------------------- child tables */
  function renumber(table) {
    var rows = table.querySelectorAll("[data-rows] > tr[data-row]");
    rows.forEach(function (row, i) {
      var number = row.querySelector("[data-row-number]");
      if (number) number.textContent = String(i + 1);
    });
    var empty = table.querySelector("[data-empty]");
    if (empty) empty.hidden = rows.length > 0;
    /* The server refuses more than max_rows rows: stop adding at the limit. */
    var max = parseInt(table.getAttribute("data-max-rows") || "0", 10);
    var full = max > 0 && rows.length >= max;
    var add = table.querySelector("[data-add-row]");
    if (add) add.disabled = full;
    var note = table.querySelector("[data-row-limit]");
    if (note) note.hidden = !full;
  }

  function addRow(table) {
    var template = table.querySelector("template[data-row-template]");
    if (!template) return;
    var max = parseInt(table.getAttribute("data-max-rows") || "0", 10);
    if (max > 0 && table.querySelectorAll("[data-rows] > tr[data-row]").length >= max) return;
    var index = parseInt(table.getAttribute("data-next-index") || "0", 10);
    /* Indices only need to be unique: the server reads rows in document order. */
    while (table.querySelector('[name^="' + table.getAttribute("data-child-table") + "-" + index + '-"]')) index++;
    table.setAttribute("data-next-index", String(index + 1));
    var html = template.innerHTML.split("__prefix__").join(String(index));
    var body = table.querySelector("[data-rows]");
    var holder = document.createElement("tbody");
    holder.innerHTML = html;
    var row = holder.querySelector("tr");
    body.appendChild(row);
    initAll(row);
    renumber(table);
    var first = row.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
    changed(body);
  }

  function removeRow(button) {
    var row = button.closest("tr[data-row]");
    var table = button.closest("[data-child-table]");
    if (!row || !table) return;
    var next = row.nextElementSibling;
    if (next && next.classList.contains("row-errors")) next.remove();
    var body = row.parentNode;
    row.remove();
    renumber(table);
    var add = table.querySelector("[data-add-row]");
    if (add) add.focus();
    changed(body);
  }

  /* ---------------------------------------------------------- pickers */
  function initPicker(picker) {
    if (picker.getAttribute("data-ready")) return;
    picker.setAttribute("data-ready", "1");
    var hidden = picker.querySelector("[data-picker-value]");
    var input = picker.querySelector("[data-picker-input]");
    var list = picker.querySelector("[data-picker-options]");
    var clear = picker.querySelector("[data-picker-clear]");
    var url = picker.getAttribute("data-lookup-url");
    var chosenText = input.value;
    var timer = null, active = -1, items = [], seq = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function choose(item) {
      hidden.value = item ? String(item.id) : "";
      input.value = item ? item.title : "";
      chosenText = input.value;
      if (clear) clear.hidden = !item;
      close();
      changed(hidden);
    }
    function highlight(i) {
      var options = list.querySelectorAll("[role=option]");
      options.forEach(function (o, n) { o.setAttribute("aria-selected", n === i ? "true" : "false"); });
      active = i;
      if (options[i]) {
        input.setAttribute("aria-activedescendant", options[i].id);
        options[i].scrollIntoView({ block: "nearest" });
      }
    }
    function render(results) {
      items = results;
      list.innerHTML = "";
      if (!results.length) {
        var none = document.createElement("li");
        none.className = "picker-empty";
        none.textContent = picker.getAttribute("data-empty-text") || "";
        list.appendChild(none);
      }
      results.forEach(function (item, n) {
        var li = document.createElement("li");
        li.id = input.id + "-option-" + n;
        li.setAttribute("role", "option");
        li.className = "picker-option";
        var title = document.createElement("span");
        title.className = "picker-option-title";
        title.textContent = item.title; /* textContent: titles are data */
        li.appendChild(title);
        if (item.subtitle) {
          var sub = document.createElement("span");
          sub.className = "picker-option-sub";
          sub.textContent = item.subtitle;
          li.appendChild(sub);
        }
        li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(item); });
        list.appendChild(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      if (results.length) highlight(0);
    }
    function normalise(data) {
      var rows = Array.isArray(data) ? data : (data.results || data.items || data.rows || []);
      return rows.map(function (r) {
        return { id: r.id, title: r.title || r.name || r.label || ("#" + r.id), subtitle: r.subtitle || r.email || "" };
      });
    }
    function search() {
      var mine = ++seq;
      var q = encodeURIComponent(input.value.trim());
      var sep = url.indexOf("?") >= 0 ? "&" : "?";
      fetch(url + sep + "q=" + q, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (data) { if (mine === seq && document.activeElement === input) render(normalise(data)); })
        .catch(function () { /* offline: keep what is typed */ });
    }
    input.addEventListener("input", function (event) {
      event.stopPropagation(); /* the typed search is not a field value: no form-state */
      clearTimeout(timer);
      timer = setTimeout(search, 180);
    });
    input.addEventListener("change", function (event) { event.stopPropagation(); });
    input.addEventListener("focus", function () { if (!hidden.value) search(); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { event.preventDefault(); if (list.hidden) search(); else highlight(Math.min(active + 1, items.length - 1)); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (event.key === "Enter" && !list.hidden) { event.preventDefault(); if (items[active]) choose(items[active]); }
      else if (event.key === "Escape" && !list.hidden) { event.preventDefault(); event.stopPropagation(); close(); }
    });
    input.addEventListener("blur", function () {
      setTimeout(function () {
        close();
        if (!input.value.trim() && hidden.value) choose(null);
        else if (input.value !== chosenText) input.value = chosenText; /* no free text in a link */
      }, 120);
    });
    if (clear) clear.addEventListener("click", function () { choose(null); input.focus(); });
  }

  /* ---------------------------------------------------------- rich text */
  function initRichText(box) {
    if (box.getAttribute("data-ready")) return;
    box.setAttribute("data-ready", "1");
    var editor = box.querySelector(".rte-editor");
    var source = box.querySelector(".rte-source");
    var toolbar = box.querySelector(".rte-toolbar");
    if (!editor || !source) return;
    editor.hidden = false;
    toolbar.hidden = false;
    source.hidden = true;
    if (source.id) { editor.id = source.id + "-editor"; }
    var label = document.querySelector('label[for="' + source.id + '"]');
    if (label) label.addEventListener("click", function (event) { event.preventDefault(); editor.focus(); });
    editor.addEventListener("input", function () { source.value = editor.innerHTML; });
    toolbar.addEventListener("mousedown", function (event) { if (event.target.closest("[data-command]")) event.preventDefault(); });
    toolbar.addEventListener("click", function (event) {
      var button = event.target.closest("[data-command]");
      if (!button) return;
      editor.focus();
      document.execCommand(button.getAttribute("data-command"), false, null);
      source.value = editor.innerHTML;
      changed(source);
    });
    editor.addEventListener("keydown", function (event) {
      if ((event.ctrlKey || event.metaKey) && (event.key === "b" || event.key === "i")) {
        event.preventDefault();
        document.execCommand(event.key === "b" ? "bold" : "italic", false, null);
        source.value = editor.innerHTML;
      }
    });
  }

  /* ---------------------------------------------------------- textarea autogrow */
  function grow(area) {
    area.style.height = "auto";
    area.style.height = Math.min(area.scrollHeight + 2, 480) + "px";
  }

  function initAll(root) {
    root.querySelectorAll("[data-picker]").forEach(initPicker);
    root.querySelectorAll("[data-rte]").forEach(initRichText);
    root.querySelectorAll("textarea[data-autogrow]").forEach(grow);
  }

  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-row]");
    if (add) { addRow(add.closest("[data-child-table]")); return; }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) removeRow(remove);
  });

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-autogrow]")) grow(event.target);
  });

  /* Confirm destructive POSTs: <form data-confirm="Archive …?"> (no inline script: CSP). */
  document.addEventListener("submit", function (event) {
    var target = event.target;
    var message = target.getAttribute && target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); return; }
    if (target.matches && target.matches("[data-record-form]")) {
      // A second Enter or click while the first save is on its way would create twice.
      if (target.classList.contains("is-submitting")) { event.preventDefault(); return; }
      target.querySelectorAll("[data-rte]").forEach(function (box) {
        var editor = box.querySelector(".rte-editor"), source = box.querySelector(".rte-source");
        if (editor && source && !editor.hidden) source.value = editor.innerHTML;
      });
      target.classList.add("is-submitting");
    }
  });

  // Back to a form from the browser's page cache: it may be saved again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("[data-record-form].is-submitting").forEach(function (f) { f.classList.remove("is-submitting"); });
  });

  function start() {
    initAll(document);
    applyStates();
    var summary = document.querySelector("[data-error-summary]");
    var firstError = document.querySelector(".form-field.has-error input:not([type=hidden]), .form-field.has-error select, .form-field.has-error textarea, td.has-error input");
    if (firstError) firstError.focus();
    else if (summary) summary.focus();
    var f = form();
    if (f && !firstError && !summary) {
      var first = f.querySelector(".form-section[open] .field-control input:not([type=hidden]):not([type=checkbox]), .form-section[open] .field-control select, .form-section[open] .field-control textarea");
      if (first && !document.querySelector(".conflict")) first.focus();
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
