/* The audit report's findings: filter, sort, search, per-patient view, pages, CSV export.
   Rows are built with textContent only, never markup, so no finding text can run as code. */
(function () {
  "use strict";
  var SEV = ["contraindicated", "major", "moderate", "minor", "info"];
  var ICON = { contraindicated: "\u2298", major: "\u25B2", moderate: "\u25C6", minor: "\u25CF", info: "\u2139" };
  var holder = document.getElementById("findings-data");
  if (!holder) { return; }
  var data = JSON.parse(holder.textContent);
  var S = data.strings, C = {};
  data.columns.forEach(function (name, i) { C[name] = i; });
  var rows = data.rows;
  var lower = null; // search text per row, built on the first search
  var $ = function (id) { return document.getElementById(id); };
  var state = { severity: "", category: "", drug: "", rule: "", patient: "", q: "", sort: "severity", page: 0, size: 100 };
  var shown = rows;

  function val(r, name) { return S[r[C[name]]]; }
  function ruleOf(r) { return val(r, "rule") || val(r, "code"); }
  function sevRank(r) { var i = SEV.indexOf(val(r, "severity")); return i < 0 ? SEV.length : i; }

  function matches(r, i) {
    if (state.severity && val(r, "severity") !== state.severity) { return false; }
    if (state.category && val(r, "category") !== state.category) { return false; }
    if (state.rule && ruleOf(r) !== state.rule) { return false; }
    if (state.patient && val(r, "patient_id") !== state.patient) { return false; }
    if (state.drug && val(r, "drugs").split(";").indexOf(state.drug) < 0) { return false; }
    if (state.q) {
      if (!lower) { lower = rows.map(function (x) { return x.map(function (k) { return S[k]; }).join("\u0001").toLowerCase(); }); }
      if (lower[i].indexOf(state.q) < 0) { return false; }
    }
    return true;
  }

  function firstRow(r) { var n = parseInt(val(r, "rows"), 10); return isNaN(n) ? Infinity : n; }
  function comparer(key) {
    var text = function (r) { return key === "rule" ? ruleOf(r) : val(r, key); };
    return function (a, b) {
      if (key === "severity") {
        return sevRank(a) - sevRank(b) || cmp(val(a, "patient_id"), val(b, "patient_id")) || firstRow(a) - firstRow(b);
      }
      if (key === "rows") { return firstRow(a) - firstRow(b) || sevRank(a) - sevRank(b); }
      return cmp(text(a), text(b)) || sevRank(a) - sevRank(b);
    };
  }
  function cmp(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

  function apply() {
    var out = [];
    for (var i = 0; i < rows.length; i++) { if (matches(rows[i], i)) { out.push(rows[i]); } }
    out.sort(comparer(state.sort));
    shown = out;
    state.page = 0;
    render();
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function render() {
    var body = $("rows");
    var pages = Math.max(1, Math.ceil(shown.length / state.size));
    if (state.page >= pages) { state.page = pages - 1; }
    var start = state.page * state.size, end = Math.min(shown.length, start + state.size);
    var frag = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      var r = shown[i], sev = val(r, "severity");
      var tr = document.createElement("tr");
      tr.className = "sev-" + sev;
      var td = document.createElement("td");
      var b = document.createElement("button");
      b.type = "button"; b.className = "link patient";
      b.textContent = val(r, "patient_id");
      b.setAttribute("aria-label", "Show only patient " + val(r, "patient_id"));
      b.dataset.patient = val(r, "patient_id");
      td.appendChild(b); tr.appendChild(td);
      cell(tr, val(r, "rows"));
      var s = cell(tr, "", "sev");
      var icon = document.createElement("span");
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = (ICON[sev] || "") + " ";
      s.appendChild(icon); s.appendChild(document.createTextNode(sev));
      cell(tr, val(r, "category"));
      cell(tr, val(r, "drugs").split(";").join(", "));
      cell(tr, val(r, "message"));
      cell(tr, val(r, "recommendation"));
      cell(tr, ruleOf(r));
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    $("status").textContent = shown.length === rows.length
      ? "Showing " + (shown.length ? start + 1 : 0) + "\u2013" + end + " of " + rows.length + " findings."
      : "Showing " + (shown.length ? start + 1 : 0) + "\u2013" + end + " of " + shown.length + " matching findings (" + rows.length + " in all).";
    $("page-of").textContent = "Page " + (state.page + 1) + " of " + pages;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    var pv = $("patient-view");
    pv.hidden = !state.patient;
    if (state.patient) { $("patient-h").textContent = "Patient " + state.patient + ": " + shown.length + " findings"; }
  }

  function neutral(text) { return /^[=+\-@\t\r]/.test(text) ? "'" + text : text; }
  function csvCell(text) {
    text = neutral(text);
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function exportCsv() {
    var cols = ["patient_id", "rows", "severity", "category", "code", "drugs", "message", "recommendation", "rule"];
    var lines = [cols.join(",")];
    shown.forEach(function (r) { lines.push(cols.map(function (c) { return csvCell(val(r, c)); }).join(",")); });
    var blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "findings-filtered.csv";
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  var timer = null;
  function bind(id, key, delay) {
    var el = $(id);
    el.addEventListener(el.tagName === "INPUT" ? "input" : "change", function () {
      var v = el.value.trim();
      state[key] = key === "q" ? v.toLowerCase() : v;
      clearTimeout(timer);
      timer = setTimeout(apply, delay || 0);
    });
  }
  bind("f-severity", "severity"); bind("f-category", "category"); bind("f-drug", "drug");
  bind("f-rule", "rule"); bind("f-sort", "sort"); bind("f-patient", "patient", 250); bind("f-search", "q", 250);
  $("filters").addEventListener("submit", function (e) { e.preventDefault(); apply(); });
  $("clear-filters").addEventListener("click", function () {
    HTMLFormElement.prototype.reset.call($("filters"));
    ["severity", "category", "drug", "rule", "patient", "q"].forEach(function (k) { state[k] = ""; });
    state.sort = "severity";
    apply();
  });
  $("export").addEventListener("click", exportCsv);
  $("prev").addEventListener("click", function () { state.page--; render(); });
  $("next").addEventListener("click", function () { state.page++; render(); });
  $("page-size").addEventListener("change", function () { state.size = parseInt($("page-size").value, 10); state.page = 0; render(); });
  $("rows").addEventListener("click", function (e) {
    var t = e.target;
    if (t && t.dataset && t.dataset.patient !== undefined) {
      state.patient = t.dataset.patient; $("f-patient").value = state.patient; apply();
      $("patient-h").focus();
    }
  });
  $("all-patients").addEventListener("click", function () { state.patient = ""; $("f-patient").value = ""; apply(); });
  $("patient-h").tabIndex = -1;
  $("filters").hidden = false;
  $("pager").hidden = false;
  apply();
})();
