/* Milvus Migration Console: the few behaviours plain HTML lacks. Every page loads this file;
   each behaviour is switched on by a data- attribute, so new pages get it by markup alone:

   - data-menu on a <details>: closes on a click outside it and on Escape (user menu, row menus).
   - data-copy="ELEMENT_ID" on a <button>: copies that element's text, then says "Copied".
   - data-dialog="DIALOG_ID" on a link or button: opens that <dialog> (a confirmation) instead of
     following the link; the link's href is the no-JavaScript confirmation page.
   - data-autosubmit on a <form>: choosing in one of its <select>s submits it (the header's
     project switcher, the job log's filters). No inline handlers: the Content-Security-Policy
     refuses them.
*/
(function () {
  "use strict";

  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }

  document.addEventListener("click", function (event) {
    var menu = event.target.closest("details[data-menu]");
    closeMenus(menu);

    var copy = event.target.closest("[data-copy]");
    if (copy) copyText(copy);

    var opener = event.target.closest("[data-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog"));
      if (dialog && dialog.showModal) {
        event.preventDefault();
        dialog.showModal();
      }
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelector("details[data-menu][open]");
    if (open) {
      open.removeAttribute("open");
      open.querySelector("summary").focus();
    }
  });

  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-autosubmit]");
    if (form && event.target.tagName === "SELECT") form.requestSubmit();
  });

  function copyText(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    var label = button.getAttribute("data-copy-label") || button.textContent;
    button.setAttribute("data-copy-label", label);
    function done(ok) {
      button.textContent = ok ? "Copied" : "Select and copy it by hand";
      button.setAttribute("data-copied", ok ? "true" : "false");
      window.setTimeout(function () { button.textContent = label; }, 2000);
    }
    // The Clipboard API needs a secure context (https or localhost); fall back to a selection.
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(fallbackCopy(source)); });
    } else {
      done(fallbackCopy(source));
    }
  }

  function fallbackCopy(source) {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }
})();
