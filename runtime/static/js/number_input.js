/* Digit grouping in number inputs while typing: 1234567.5 reads 1,234,567.5.
   Inputs opt in with data-number-input ("integer" or "decimal"). The server accepts the
   grouped text as typed (runtime.fieldtypes strips the group separators), so nothing is
   rewritten on submit. The caret stays after the same digit it was after, Backspace or
   Delete next to a separator removes the digit beyond it, and text that is not a number
   (letters, two points) is left exactly as typed for the server to explain. */
(function () {
  "use strict";

  var GROUP = ",";
  var SELECTOR = "input[data-number-input]";

  function significant(ch) { return ch !== GROUP && ch !== " "; }

  /* The grouped form of ``text``, or null when ``text`` is not a plain number. */
  function grouped(text, integer) {
    var bare = text.replace(/[,\s]/g, "");
    var match = (integer ? /^(-?)(\d*)$/ : /^(-?)(\d*)(\.\d*)?$/).exec(bare);
    if (!match) return null;
    var whole = match[2].replace(/\B(?=(\d{3})+(?!\d))/g, GROUP);
    return match[1] + whole + (match[3] || "");
  }

  function format(input) {
    var before = input.value;
    var after = grouped(before, input.getAttribute("data-number-input") === "integer");
    if (after === null || after === before) return;
    var focused = document.activeElement === input;
    var caret = focused ? input.selectionStart : before.length;
    var count = 0;
    for (var i = 0; i < caret; i++) if (significant(before.charAt(i))) count++;
    input.value = after;
    if (!focused) return;
    var position = 0;
    while (position < after.length && count > 0) {
      if (significant(after.charAt(position))) count--;
      position++;
    }
    input.setSelectionRange(position, position);
  }

  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches(SELECTOR) || event.isComposing) return;
    format(input);
  });

  document.addEventListener("compositionend", function (event) {
    if (event.target.matches && event.target.matches(SELECTOR)) format(event.target);
  });

  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches(SELECTOR)) return;
    var start = input.selectionStart;
    if (start !== input.selectionEnd) return;
    // Deleting a separator alone would put it straight back: skip over it instead.
    if (event.key === "Backspace" && start > 0 && input.value.charAt(start - 1) === GROUP) {
      input.setSelectionRange(start - 1, start - 1);
    } else if (event.key === "Delete" && input.value.charAt(start) === GROUP) {
      input.setSelectionRange(start + 1, start + 1);
    }
  });

  function formatAll(root) {
    (root || document).querySelectorAll(SELECTOR).forEach(format);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { formatAll(); });
  } else {
    formatAll();
  }
  // Forms and dialogs htmx swaps in (gate forms, child-table rows, form-state).
  document.addEventListener("htmx:load", function (event) { formatAll(event.target); });

  window.TrellisNumbers = { grouped: grouped };
})();
