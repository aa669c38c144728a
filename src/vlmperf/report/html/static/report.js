// vlmperf HTML pages (a run, a comparison): draw the plots from the embedded figures, sort the tables.
(function () {
  "use strict";

  function drawPlots() {
    var source = document.getElementById("vlmperf-figures");
    if (!source || typeof Plotly === "undefined") { return; }
    var figures = JSON.parse(source.textContent);
    var config = { displaylogo: false, responsive: true };
    document.querySelectorAll("div.plot").forEach(function (div) {
      var figure = figures[div.id];
      if (figure) { Plotly.newPlot(div, figure.data, figure.layout, config); }
    });
  }

  function sortValue(cell) {
    var key = cell.getAttribute("data-sort");
    return key === null ? null : parseFloat(key);
  }

  // Numbers by value, text in natural order ("cell2" before "cell10"); either way round,
  // cells without a number ("-", blanks of failed cells) come after the numbers.
  function compare(a, b, direction) {
    var x = sortValue(a), y = sortValue(b);
    if (x !== null && y !== null) { return direction * (x - y); }
    if (x !== null) { return -1; }
    if (y !== null) { return 1; }
    return direction * a.textContent.localeCompare(b.textContent, undefined, { numeric: true });
  }

  function sortBy(table, th) {
    var column = Number(th.getAttribute("data-col"));
    var descending = th.getAttribute("aria-sort") === "ascending";
    table.querySelectorAll("thead th").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) { return compare(r1.cells[column], r2.cells[column], descending ? -1 : 1); });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function makeSortable() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("thead th").forEach(function (th) {
        th.addEventListener("click", function () { sortBy(table, th); });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    makeSortable();
    drawPlots();
  });
})();
