// Marks the page once the script ran, and lists what 103 Early Hints delivered.
"use strict";
document.documentElement.dataset.ran = "yes";
window.addEventListener("load", function () {
  var hinted = performance.getEntriesByType("resource")
    .filter(function (entry) { return entry.initiatorType === "early-hints"; })
    .map(function (entry) { return new URL(entry.name).pathname; });
  var out = document.getElementById("hinted");
  if (out) { out.textContent = hinted.length ? hinted.join(", ") : "nothing"; }
});
