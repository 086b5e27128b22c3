// Renders the embedded profile with d3-flame-graph. Every name comes from
// the target, so it only ever reaches the page as text (textContent, SVG
// <title> text, attributes), never as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("profile-data").textContent);
  var details = document.getElementById("details");
  var total = data.v || 1;
  var chart = flamegraph.default()
    .width(Math.max(600, document.documentElement.clientWidth - 40))
    .cellHeight(18)
    .minFrameSize(1)
    .sort(true)
    .selfValue(false)
    .title("")
    .setDetailsElement(details)
    .setLabelHandler(function (d) {
      var pct = (100 * d.value / total).toFixed(2);
      var v = data.u === "ns" ? (d.value / 1e6).toFixed(2) + " ms CPU" : d.value + " samples";
      return d.data.n + "\n" + v + ", " + pct + "%";
    })
    .setSearchMatch(function (d, term) {
      if (!term) return false;
      var name = d.data.n || "";
      return name.toLowerCase().indexOf(term.toLowerCase()) >= 0;
    })
    .setColorMapper(function (d, color) {
      return d.highlight ? "#e600e6" : color;
    });
  d3.select("#chart").datum(data).call(chart);
  document.getElementById("search").addEventListener("submit", function (e) {
    e.preventDefault();
    chart.search(document.getElementById("term").value);
  });
  document.getElementById("reset").addEventListener("click", function () { chart.resetZoom(); });
  document.getElementById("clear").addEventListener("click", function () {
    document.getElementById("term").value = "";
    chart.clear();
  });
})();
