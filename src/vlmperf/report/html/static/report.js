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

  // The cell of a row in a column, or null where a cell spanning several columns (a failed
  // cell's error, over the figures it has not got) covers it.
  function cellAt(row, column) {
    var start = 0;
    for (var i = 0; i < row.cells.length; i++) {
      var cell = row.cells[i];
      if (column < start + cell.colSpan) { return cell.colSpan === 1 ? cell : null; }
      start += cell.colSpan;
    }
    return null;
  }

  function sortValue(cell) {
    var key = cell ? cell.getAttribute("data-sort") : null;
    return key === null ? null : parseFloat(key);
  }

  function label(cell) { return cell ? cell.textContent : ""; }

  // Numbers by value, text in natural order ("cell2" before "cell10"); either way round,
  // cells without a number ("-", failed cells) come after the numbers.
  function compare(a, b, direction) {
    var x = sortValue(a), y = sortValue(b);
    if (x !== null && y !== null) { return direction * (x - y); }
    if (x !== null) { return -1; }
    if (y !== null) { return 1; }
    return direction * label(a).localeCompare(label(b), undefined, { numeric: true });
  }

  function sortBy(table, th) {
    var column = Number(th.getAttribute("data-col"));
    var descending = th.getAttribute("aria-sort") === "ascending";
    table.querySelectorAll("thead th").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) { return compare(cellAt(r1, column), cellAt(r2, column), descending ? -1 : 1); });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function makeSortable() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("thead th").forEach(function (th) {
        th.addEventListener("click", function () { sortBy(table, th); });
      });
    });
  }

  // A table wider than its wrapper scrolls inside it; its first data-pinned columns stick at the
  // left, each offset by the widths of the pinned columns before it (known only once laid out),
  // and the wrapper is marked so the last pinned column shows its edge.
  function pinColumns() {
    document.querySelectorAll("table[data-pinned]").forEach(function (table) {
      var wrap = table.parentElement;
      wrap.classList.toggle("overflows", table.offsetWidth > wrap.clientWidth);
      var pinned = Number(table.getAttribute("data-pinned"));
      var heads = table.tHead.rows[0].cells;
      var left = 0, offsets = [];
      for (var i = 0; i < pinned; i++) {
        offsets.push(left);
        left += heads[i].getBoundingClientRect().width;
      }
      Array.prototype.forEach.call(table.rows, function (row) {
        for (var i = 0; i < pinned && i < row.cells.length; i++) { row.cells[i].style.left = offsets[i] + "px"; }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    makeSortable();
    pinColumns();
    window.addEventListener("resize", pinColumns);
    drawPlots();
  });
})();
