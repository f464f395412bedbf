// The journal list: a combo's legs fold under its row (shown when scripts are off).
(function () {
  "use strict";
  function legs(id) {
    return Array.prototype.filter.call(document.querySelectorAll("tr.leg"), function (row) {
      return row.getAttribute("data-combo") === id;
    });
  }
  function show(button, open) {
    legs(button.getAttribute("data-combo")).forEach(function (row) { row.hidden = !open; });
    button.setAttribute("aria-expanded", open ? "true" : "false");
    button.textContent = open ? "▾" : "▸";
  }
  document.querySelectorAll("button.combo-toggle").forEach(function (button) {
    show(button, false);
    button.addEventListener("click", function () {
      show(button, button.getAttribute("aria-expanded") !== "true");
    });
  });
})();
