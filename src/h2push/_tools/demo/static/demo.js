// h2push demo: shows how each subresource of this page arrived, from the Resource Timing API.
// A resource the browser fetched because of a 103 Early Hints response has initiatorType
// "early-hints"; any other was fetched when the page asked for it. Chromium fetches a hinted
// resource into its HTTP cache while the server is still thinking, and its entry then times the
// page's use of it: from when the page asked for it until the page had it.
"use strict";

(function () {
  function ms(value) {
    return Math.round(value).toString();
  }

  function delivery(entry) {
    if (entry.initiatorType === "early-hints") {
      return { kind: "early-hints", label: "103 Early Hints" };
    }
    if (entry.transferSize === 0 && entry.decodedBodySize > 0) {
      return { kind: "cache", label: "HTTP cache (" + entry.initiatorType + ")" };
    }
    return { kind: "fetch", label: "normal fetch (" + entry.initiatorType + ")" };
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function marker(track, className, at, scale, title) {
    if (at <= 0) return;
    const line = document.createElement("div");
    line.className = "marker " + className;
    line.style.left = (at / scale) * 100 + "%";
    line.title = title;
    track.appendChild(line);
  }

  function timeline(row, entry, kind, hintAt, pageAt, scale) {
    const track = document.createElement("div");
    track.className = "track";
    const bar = document.createElement("div");
    bar.className = "bar " + kind;
    bar.style.left = (entry.startTime / scale) * 100 + "%";
    bar.style.width = ((entry.responseEnd - entry.startTime) / scale) * 100 + "%";
    track.appendChild(bar);
    marker(track, "hint", hintAt, scale, "the 103 arrived at " + ms(hintAt) + " ms");
    marker(track, "page", pageAt, scale, "the page's 200 arrived at " + ms(pageAt) + " ms");
    cell(row, "", "timeline").appendChild(track);
  }

  function render() {
    const nav = performance.getEntriesByType("navigation")[0];
    const entries = performance.getEntriesByType("resource");
    // firstInterimResponseStart is the 103; finalResponseHeadersStart the 200 (Chromium).
    const hintAt = nav && nav.firstInterimResponseStart > 0 ? nav.firstInterimResponseStart : 0;
    let pageAt = 0;
    if (nav) {
      pageAt = nav.finalResponseHeadersStart || (hintAt > 0 ? nav.responseEnd : nav.responseStart);
    }
    const scale = Math.max(pageAt, ...entries.map((entry) => entry.responseEnd), 1);

    const body = document.querySelector("#resources tbody");
    body.textContent = "";
    const rows = [];
    for (const entry of entries) {
      const how = delivery(entry);
      const row = document.createElement("tr");
      cell(row, new URL(entry.name).pathname);
      cell(row, how.label, "how " + how.kind);
      cell(row, entry.nextHopProtocol || "?");
      cell(row, ms(entry.startTime), "num");
      cell(row, ms(entry.responseEnd - entry.startTime), "num");
      timeline(row, entry, how.kind, hintAt, pageAt, scale);
      body.appendChild(row);
      rows.push({
        path: new URL(entry.name).pathname,
        initiatorType: entry.initiatorType,
        delivery: how.label,
        protocol: entry.nextHopProtocol,
        startMs: entry.startTime,
        endMs: entry.responseEnd,
      });
    }

    const hinted = rows.filter((row) => row.initiatorType === "early-hints");
    const protocol = nav && nav.nextHopProtocol ? nav.nextHopProtocol : "an unknown protocol";
    let text = "This page came over " + protocol + ". ";
    if (hinted.length > 0) {
      const waited = hinted.reduce((sum, row) => sum + row.endMs - row.startMs, 0) / hinted.length;
      if (hintAt > 0) text += "The 103 arrived after " + ms(hintAt) + " ms, ";
      if (pageAt > 0) text += "the page's 200 after " + ms(pageAt) + " ms. ";
      text +=
        hinted.length + " of " + rows.length + " resources came by 103 Early Hints: the " +
        "browser fetched them while the server was still thinking, so when the page asked " +
        "for them it had them after " + ms(waited) + " ms on average, instead of a round " +
        "trip each (two for the font, which only the stylesheet names).";
    } else {
      text +=
        "No resource came by 103 Early Hints. Browsers act on a 103 only over HTTP/2 or " +
        "HTTP/3, and Chromium only with a trusted certificate: start it with " +
        "--ignore-certificate-errors-spki-list as h2push demo prints, " +
        "not with --ignore-certificate-errors.";
    }
    document.getElementById("summary").textContent = text;
    window.h2pushDemo = { hintAt: hintAt, pageAt: pageAt, resources: rows };
    document.documentElement.dataset.measured = "yes";
  }

  for (const span of document.querySelectorAll(".origin")) {
    span.textContent = location.origin;
  }

  window.addEventListener("load", function () {
    // Wait for the web font too, so its entry is in the list.
    document.fonts.ready.then(render, render);
  });
})();
