/* List screens: row click opens the record, link/user pickers in the filter bar,
   filter "Clear" buttons, active-filter dots and delete confirmations. Data from the
   server is written with textContent only. */
(function () {
  "use strict";

  function fire(el) {
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }

  /* A whole row is a link; real links, buttons and text selection keep their own job. */
  document.addEventListener("click", function (event) {
    var row = event.target.closest("tr[data-href]");
    if (!row || event.target.closest("a, button, input, label, summary, select")) return;
    if (window.getSelection && String(window.getSelection()).length) return;
    var href = row.getAttribute("data-href");
    if (event.metaKey || event.ctrlKey) window.open(href, "_blank", "noopener");
    else window.location.assign(href);
  });

  /* Mark a filter pill active while one of its inputs has a value. */
  function refreshFilter(details) {
    var active = false;
    details.querySelectorAll("input[name], select[name]").forEach(function (input) {
      if (input.type === "checkbox" || input.type === "radio") { if (input.checked) active = true; }
      else if (input.value) active = true;
    });
    details.classList.toggle("is-active", active);
  }

  document.addEventListener("change", function (event) {
    var details = event.target.closest("[data-filter]");
    if (details) refreshFilter(details);
  });

  document.addEventListener("click", function (event) {
    var clear = event.target.closest("[data-filter-clear]");
    if (!clear) return;
    var details = clear.closest("[data-filter]");
    details.querySelectorAll("input[name], select[name]").forEach(function (input) {
      if (input.type === "checkbox" || input.type === "radio") input.checked = false;
      else input.value = "";
    });
    var current = details.querySelector("[data-lookup-current]");
    if (current) current.remove();
    details.querySelectorAll(".lookup-option-quick.is-selected").forEach(function (quick) {
      quick.classList.remove("is-selected");
      quick.removeAttribute("aria-selected");
    });
    refreshFilter(details);
    var form = details.closest("form");
    if (form) fire(form);
  });

  /* Date filters: a quick range and a custom range exclude each other. Capturing, so
     the other is cleared before htmx reads the form for this change. */
  document.addEventListener("change", function (event) {
    var details = event.target.closest("[data-filter]");
    if (!details || !details.querySelector("[data-date-presets]")) return;
    if (event.target.closest("[data-date-presets]")) {
      details.querySelectorAll("[data-date-custom] input").forEach(function (input) { input.value = ""; });
    } else if (event.target.closest("[data-date-custom]")) {
      details.querySelectorAll("[data-date-presets] input").forEach(function (input) { input.checked = false; });
    }
  }, true);

  /* Confirm destructive forms (deleting a saved view). */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);

  /* Link and user pickers: type, pick, and the hidden input carries the id. */
  function debounce(fn, wait) {
    var timer = null;
    return function () {
      var args = arguments, self = this;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(self, args); }, wait);
    };
  }

  function renderResults(box, list, results) {
    list.textContent = "";
    if (!results.length) {
      var empty = document.createElement("li");
      empty.className = "lookup-empty";
      empty.textContent = box.getAttribute("data-empty-text") || "";
      list.appendChild(empty);
      return;
    }
    results.forEach(function (item) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "lookup-option";
      button.setAttribute("role", "option");
      button.setAttribute("data-id", String(item.id));
      button.textContent = item.title;
      li.appendChild(button);
      list.appendChild(li);
    });
  }

  /* Only the answer to the latest query is shown: a slow answer to an earlier (empty)
     query must not replace the typed matches under the user's pointer. */
  var sequence = 0;

  function search(box) {
    var input = box.querySelector("[data-lookup-input]");
    var list = box.querySelector("[data-lookup-results]");
    var url = box.getAttribute("data-url") + "?q=" + encodeURIComponent(input.value.trim());
    var ticket = ++sequence;
    box.setAttribute("data-lookup-ticket", String(ticket));
    function show(results) {
      if (box.getAttribute("data-lookup-ticket") === String(ticket)) renderResults(box, list, results);
    }
    window.fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; })
      .then(function (body) { show((body && body.results) || []); })
      .catch(function () { show([]); });
  }

  var debouncedSearch = debounce(search, 220);

  document.addEventListener("input", function (event) {
    var input = event.target.closest("[data-lookup-input]");
    if (input) {
      event.stopPropagation();
      var box = input.closest("[data-lookup]");
      box.setAttribute("data-lookup-ticket", "");  /* stale answers are dropped from now on */
      box.querySelector("[data-lookup-results]").textContent = "";
      debouncedSearch(box);
    }
  }, true);

  /* The picker's search box is not a filter: keep its keystrokes from submitting. */
  document.addEventListener("change", function (event) {
    if (event.target.closest("[data-lookup-input]")) event.stopPropagation();
  }, true);

  document.addEventListener("focusin", function (event) {
    var input = event.target.closest("[data-lookup-input]");
    if (input) {
      var box = input.closest("[data-lookup]");
      var list = box.querySelector("[data-lookup-results]");
      if (!list.children.length) search(box);
    }
  });

  document.addEventListener("keydown", function (event) {
    var input = event.target.closest("[data-lookup-input]");
    if (input && event.key === "Enter") {
      event.preventDefault();
      var first = input.closest("[data-lookup]").querySelector("[data-lookup-results] .lookup-option");
      if (first) first.click();
    } else if (input && event.key === "ArrowDown") {
      var option = input.closest("[data-lookup]").querySelector("[data-lookup-results] .lookup-option");
      if (option) { event.preventDefault(); option.focus(); }
    } else if (event.target.classList && event.target.classList.contains("lookup-option")) {
      var li = event.target.parentElement;
      var next = event.key === "ArrowDown" ? li.nextElementSibling : event.key === "ArrowUp" ? li.previousElementSibling : null;
      if (next && next.firstElementChild) { event.preventDefault(); next.firstElementChild.focus(); }
    }
  });

  document.addEventListener("click", function (event) {
    var option = event.target.closest(".lookup-option");
    var clear = event.target.closest("[data-lookup-clear]");
    if (!option && !clear) return;
    var box = event.target.closest("[data-lookup]");
    var hidden = box.querySelector("[data-lookup-value]");
    hidden.value = option ? option.getAttribute("data-id") : "";
    var current = box.querySelector("[data-lookup-current]");
    if (option && option.classList.contains("lookup-option-quick")) {
      if (current) current.remove();  /* the highlighted quick choice says it */
    } else if (option) {
      if (!current) {
        current = document.createElement("p");
        current.className = "lookup-current";
        current.setAttribute("data-lookup-current", "");
        current.appendChild(document.createElement("span"));
        box.insertBefore(current, box.querySelector("[data-lookup-input]"));
      }
      current.firstElementChild.textContent = option.textContent.trim();
    } else if (current) {
      current.remove();
    }
    box.querySelector("[data-lookup-results]").textContent = "";
    box.querySelector("[data-lookup-input]").value = "";
    box.querySelectorAll(".lookup-option-quick").forEach(function (quick) {
      var on = option !== null && quick.getAttribute("data-id") === hidden.value;
      quick.classList.toggle("is-selected", on);
      if (on) quick.setAttribute("aria-selected", "true"); else quick.removeAttribute("aria-selected");
    });
    fire(hidden);
  });

  /* The phone's sort select: each option is the list's URL in that order. */
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-sort-select] select");
    if (!select || !select.value) return;
    event.stopPropagation();
    window.location.assign(select.value);
  }, true);

  /* "+N more columns" opens the column picker. */
  document.addEventListener("click", function (event) {
    var more = event.target.closest("[data-open-columns]");
    if (!more) return;
    var picker = document.querySelector("#list-columns details");
    if (!picker) return;
    event.preventDefault();
    /* After this click: the shell closes menus on every click outside them. */
    window.setTimeout(function () {
      picker.open = true;
      picker.scrollIntoView({ block: "nearest" });
      var first = picker.querySelector("input[type=checkbox]:not(:checked)") || picker.querySelector("input");
      if (first) first.focus();
    }, 0);
  });
})();
