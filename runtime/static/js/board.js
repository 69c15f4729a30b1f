/* Pipeline board and path bar: drag and drop (SortableJS), keyboard moves, the
   missing-fields dialog. Every move is one POST to /p/<pipeline>/move; the server
   decides (gates, transitions, permissions) and a refused move springs back. */
(function () {
  "use strict";

  var dialog = null;

  function post(url, body) {
    return window.trellis.fetch(url, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return { ok: false }; }).then(function (data) {
        data.status = response.status;
        return data;
      });
    });
  }

  function moveBody(recordId, stage, version) {
    var body = new FormData();
    body.append("record_id", recordId);
    body.append("to_stage", stage);
    if (version) body.append("row_version", version);
    return body;
  }

  /* ------------------------------------------------------------- dialog */

  function openGate(html, onDone) {
    dialog = document.getElementById("gate-dialog");
    if (!dialog) return;
    var body = dialog.querySelector("[data-gate-body]");
    body.innerHTML = html; /* server-rendered, escaped template */
    if (window.htmx) window.htmx.process(body);
    dialog._onDone = onDone;
    if (!dialog.open) dialog.showModal();
    var first = body.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }

  /* The dialog's form is replaced by the server on every change (htmx), so its
     submit is handled here, once, for whichever form is in the dialog. */
  document.addEventListener("submit", function (event) {
    var form = event.target.closest && event.target.closest("[data-gate-form]");
    if (!form || !dialog) return;
    event.preventDefault();
    var button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    post(form.getAttribute("action"), new FormData(form)).then(function (data) {
      if (data.ok) {
        closeGate();
        if (dialog._onDone) dialog._onDone(data);
      } else if (data.form) {
        openGate(data.form, dialog._onDone);
      } else {
        if (button) button.disabled = false;
        window.trellis.toast(data.message || errorText(), "error");
      }
    });
  });

  /* Leaving a field fires "change", and the server's re-render replaces the form,
     its "Save and move" button included. A press on the button that the re-render
     lands between (a real click lasts ~100 ms) would then release on another element
     and no click would happen. So the press keeps the focus where it is: no change
     yet, the click lands, and the submit above sends what was typed. */
  document.addEventListener("mousedown", function (event) {
    if (event.target.closest && event.target.closest("[data-gate-form] [type=submit]")) {
      event.preventDefault();
    }
  });

  function closeGate() {
    if (dialog && dialog.open) dialog.close();
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-gate-close]")) closeGate();
  });

  function errorText() {
    var box = document.getElementById("toasts");
    return box ? box.getAttribute("data-error-text") : "Error";
  }

  /* ------------------------------------------------------------- board */

  var board = document.querySelector("[data-board]");

  function columnOf(stage) {
    return board.querySelector('[data-cards][data-stage="' + stage + '"]');
  }

  /* Totals come back rendered by the server (escaped figures, one per currency). */
  function fill(el, value) {
    if (value === undefined) return;
    if (el.getAttribute("data-col-total") === "count" || el.getAttribute("data-total") === "count") el.textContent = value;
    else el.innerHTML = value;
  }

  function setTotals(totals, summary) {
    board.querySelectorAll("[data-stage]").forEach(function (section) {
      if (!section.matches("section")) return;
      var t = totals[section.getAttribute("data-stage")];
      if (!t) return;
      section.querySelectorAll("[data-col-total]").forEach(function (el) {
        fill(el, t[el.getAttribute("data-col-total")]);
      });
    });
    if (summary) {
      document.querySelectorAll("[data-total]").forEach(function (el) {
        fill(el, summary[el.getAttribute("data-total")]);
      });
    }
    board.querySelectorAll(".board-column [data-cards]").forEach(function (list) {
      var empty = list.querySelector("[data-empty]");
      var hasCards = !!list.querySelector("[data-card]");
      if (empty) empty.hidden = hasCards;
    });
  }

  function placeCard(card, data) {
    var target = columnOf(data.stage);
    if (target && target.hasAttribute("data-drop-only")) {
      card.remove(); /* closed: it leaves the board */
    } else if (data.card) {
      var holder = document.createElement("div");
      holder.innerHTML = data.card;
      var fresh = holder.firstElementChild;
      if (target) {
        var more = target.querySelector(".board-more");
        target.insertBefore(fresh, more || null);
      }
      card.remove();
      fresh.focus();
    }
    setTotals(data.totals || {}, data.summary);
    var message = board.getAttribute("data-moved-text") || "";
    var label = target ? target.getAttribute("aria-label") : data.stage;
    window.trellis.toast(message.replace("{stage}", label || data.stage));
  }

  function springBack(card, origin, nextSibling) {
    if (origin) origin.insertBefore(card, nextSibling && nextSibling.parentNode === origin ? nextSibling : null);
    card.classList.add("is-refused");
    setTimeout(function () { card.classList.remove("is-refused"); }, 700);
  }

  function tryMove(card, stage, origin, nextSibling) {
    card.classList.add("is-saving");
    var body = moveBody(card.getAttribute("data-id"), stage, card.getAttribute("data-version"));
    return post(board.getAttribute("data-move-url") + "?" + (board.getAttribute("data-filter-query") || ""), body)
      .then(function (data) {
        card.classList.remove("is-saving");
        if (data.ok) {
          placeCard(card, data);
          return;
        }
        springBack(card, origin, nextSibling);
        if (data.form) {
          openGate(data.form, function (done) {
            var current = board.querySelector('[data-card][data-id="' + done.record_id + '"]');
            placeCard(current || card, done);
          });
        } else {
          window.trellis.toast(data.message || errorText(), "error");
        }
      })
      .catch(function () {
        card.classList.remove("is-saving");
        springBack(card, origin, nextSibling);
        window.trellis.toast(errorText(), "error");
      });
  }

  if (board) {
    var canMove = board.getAttribute("data-can-move") === "1";

    function setupSortable(list) {
      if (!window.Sortable || list._sortable) return;
      list._sortable = window.Sortable.create(list, {
        group: { name: "board", pull: !list.hasAttribute("data-drop-only"), put: true },
        sort: false,
        /* fixed cards (the user may not move them) never start a drag; the title
           link does, and a plain click on it still opens the record */
        draggable: "[data-card]:not([data-fixed])",
        filter: "[data-move-menu]",
        preventOnFilter: false,
        disabled: !canMove,
        animation: 150,
        forceFallback: true, /* mouse events: same behaviour everywhere, testable */
        fallbackTolerance: 3,
        ghostClass: "is-ghost",
        chosenClass: "is-chosen",
        dragClass: "is-dragging",
        onStart: function () { board.classList.add("is-dragging"); },
        onEnd: function (event) {
          board.classList.remove("is-dragging");
          draggedAt = Date.now();
          if (event.from === event.to) return;
          var card = event.item;
          var stage = event.to.getAttribute("data-stage");
          var origin = event.from;
          /* where it came from, to spring back there */
          var next = origin.children[event.oldIndex] || null;
          tryMove(card, stage, origin, next);
        }
      });
    }

    /* The click that ends a drag started on the title must not open the record. */
    var draggedAt = 0;
    board.addEventListener("click", function (event) {
      if (Date.now() - draggedAt < 400 && event.target.closest("[data-card] a")) {
        event.preventDefault();
        event.stopPropagation();
      }
    }, true);

    function setupAll() {
      board.querySelectorAll("[data-cards]").forEach(setupSortable);
    }
    if (window.Sortable) setupAll();
    else window.addEventListener("load", setupAll);

    /* Filters apply on change. */
    document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.submit(); });
    });

    /* Keyboard: Shift+Left/Right moves the focused card to the previous/next column;
       Left/Right/Up/Down move the focus between cards. */
    board.addEventListener("keydown", function (event) {
      var card = event.target.closest && event.target.closest("[data-card]");
      if (!card || event.target !== card) return;
      var columns = Array.prototype.slice.call(board.querySelectorAll(".board-column [data-cards]"));
      var list = card.parentNode;
      var index = columns.indexOf(list);
      if (event.shiftKey && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
        event.preventDefault();
        if (!canMove || card.hasAttribute("data-fixed")) {
          window.trellis.toast(card.getAttribute("data-fixed") || board.getAttribute("data-denied-text"), "error");
          return;
        }
        var target = columns[index + (event.key === "ArrowRight" ? 1 : -1)];
        if (!target) return;
        var next = card.nextElementSibling;
        target.insertBefore(card, target.querySelector(".board-more"));
        card.focus();
        tryMove(card, target.getAttribute("data-stage"), list, next);
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var sibling = event.key === "ArrowDown" ? card.nextElementSibling : card.previousElementSibling;
        while (sibling && !sibling.matches("[data-card]")) {
          sibling = event.key === "ArrowDown" ? sibling.nextElementSibling : sibling.previousElementSibling;
        }
        if (sibling) sibling.focus();
      } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        event.preventDefault();
        var other = columns[index + (event.key === "ArrowRight" ? 1 : -1)];
        var first = other && other.querySelector("[data-card]");
        if (first) first.focus();
      } else if (event.key === "Enter") {
        var link = card.querySelector(".board-card-title");
        if (link) link.click();
      }
    });

    /* One shared "Move to" menu, opened from a card's arrow button. */
    var menu = document.getElementById("board-move-menu");
    var menuCard = null;

    function closeMenu(refocus) {
      if (!menu || menu.hidden) return;
      menu.hidden = true;
      if (refocus && menuCard) {
        var opener = menuCard.querySelector("[data-move-menu]");
        if (opener) opener.focus();
      }
    }

    function openMenu(card, opener) {
      menuCard = card;
      menu.querySelectorAll("[data-move-to]").forEach(function (item) {
        item.hidden = item.getAttribute("data-move-to") === card.getAttribute("data-stage");
      });
      var box = opener.getBoundingClientRect();
      menu.hidden = false;
      var width = menu.offsetWidth;
      menu.style.position = "fixed";
      menu.style.top = Math.min(box.bottom + 4, window.innerHeight - menu.offsetHeight - 8) + "px";
      menu.style.left = Math.max(8, Math.min(box.right - width, window.innerWidth - width - 8)) + "px";
      var first = menu.querySelector("[data-move-to]:not([hidden])");
      if (first) first.focus();
    }

    document.addEventListener("click", function (event) {
      var opener = event.target.closest("[data-move-menu]");
      if (opener && board.contains(opener)) {
        event.preventDefault();
        var card = opener.closest("[data-card]");
        if (!menu.hidden && menuCard === card) closeMenu(true);
        else openMenu(card, opener);
        return;
      }
      var item = event.target.closest("#board-move-menu [data-move-to]");
      if (item && menuCard) {
        var moving = menuCard;
        closeMenu(false);
        tryMove(moving, item.getAttribute("data-move-to"), moving.parentNode, moving.nextElementSibling);
        return;
      }
      if (menu && !menu.hidden && !event.target.closest("#board-move-menu")) closeMenu(false);
    });

    if (menu) {
      menu.addEventListener("keydown", function (event) {
        var items = Array.prototype.slice.call(menu.querySelectorAll("[data-move-to]:not([hidden])"));
        var index = items.indexOf(document.activeElement);
        if (event.key === "Escape") { event.preventDefault(); closeMenu(true); }
        else if (event.key === "ArrowDown") { event.preventDefault(); (items[index + 1] || items[0]).focus(); }
        else if (event.key === "ArrowUp") { event.preventDefault(); (items[index - 1] || items[items.length - 1]).focus(); }
        else if (event.key === "Tab") { closeMenu(true); }
      });
    }

    /* Lazily loaded cards become draggable too. */
    document.body.addEventListener("htmx:afterSwap", setupAll);
  }

  /* ------------------------------------------------------------- path bar */

  var path = document.querySelector("[data-path]");
  if (path) {
    path.addEventListener("click", function (event) {
      var button = event.target.closest("[data-move-to]");
      if (!button) return;
      button.disabled = true;
      var body = moveBody(path.getAttribute("data-record-id"), button.getAttribute("data-move-to"), path.getAttribute("data-version"));
      post(path.getAttribute("data-move-url"), body).then(function (data) {
        button.disabled = false;
        if (data.ok) {
          window.location.reload();
        } else if (data.form) {
          openGate(data.form, function () { window.location.reload(); });
        } else {
          window.trellis.toast(data.message || errorText(), "error");
        }
      });
    });
    /* Checklist ticks are kept on the record (who and when), for everyone. */
    var list = path.querySelector("[data-checklist-url]");
    if (list) {
      list.addEventListener("change", function (event) {
        var box = event.target.closest("[data-checklist-item]");
        if (!box) return;
        var body = new FormData();
        body.append("stage", box.getAttribute("data-checklist-stage"));
        body.append("item", box.getAttribute("data-checklist-item"));
        body.append("checked", box.checked ? "1" : "0");
        box.disabled = true;
        post(list.getAttribute("data-checklist-url"), body).then(function (data) {
          box.disabled = false;
          var by = box.closest("li").querySelector("[data-tick-by]");
          if (!data.ok) {
            box.checked = !box.checked;
            window.trellis.toast(data.message || errorText(), "error");
            return;
          }
          if (by) {
            by.hidden = !data.checked;
            by.textContent = data.by;
          }
        });
      });
    }
  }
})();
