/* Enhancements only: the pages work without this file. */
(function () {
  "use strict";
  function copyText(text, done) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      return;
    }
    var area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.className = "visually-hidden";
    document.body.appendChild(area); area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove(); done(ok);
  }
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      var status = document.querySelector(".copy-status");
      copyText(source.textContent, function (ok) {
        if (status) { status.textContent = ok ? "Copied to the clipboard." : "Could not copy: select the text and copy it."; }
      });
    });
  });
  var audit = document.getElementById("audit-form");
  if (audit) {
    audit.addEventListener("submit", function () {
      var run = document.getElementById("run-audit");
      run.textContent = "Running the audit\u2026";
      run.setAttribute("aria-disabled", "true");
      audit.setAttribute("aria-busy", "true");
    });
  }
  var errors = document.getElementById("form-errors");
  var results = document.querySelector(".results h2[tabindex]");
  if (errors) { errors.focus(); } else if (results) { results.focus(); }
})();
