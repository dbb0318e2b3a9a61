// Jobs page and View Details: the Cancel confirmation <dialog> and copy buttons (the log
// filters apply on change through console.js's data-autosubmit). Event delegation on the
// document: rows swapped in by htmx polling need no wiring of their own.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var cancel = event.target.closest("[data-cancel-job]");
    if (cancel) {
      var dialog = document.getElementById("cancel-dialog");
      // Without <dialog> support the button's form opens the confirmation page instead.
      if (!dialog || typeof dialog.showModal !== "function") return;
      event.preventDefault();
      dialog.querySelector("form").action = cancel.form.action;
      dialog.querySelector("[data-dialog-job-id]").textContent = cancel.dataset.cancelJob;
      dialog.showModal();
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var text = copy.dataset.copy;
      var done = function () {
        copy.setAttribute("data-copied", "");
        copy.textContent = "Copied";
        setTimeout(function () { copy.removeAttribute("data-copied"); copy.textContent = "Copy"; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () {});
      } else {
        var area = document.createElement("textarea");
        area.value = text;
        document.body.appendChild(area);
        area.select();
        try { document.execCommand("copy"); done(); } finally { area.remove(); }
      }
    }
  });
})();
