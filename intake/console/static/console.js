// New tickets appear in an open inbox without a reload: short polling of /console/poll.
(function () {
  "use strict";
  var table = document.getElementById("tickets");
  if (!table) { return; }
  var seconds = Math.max(2, parseInt(table.dataset.seconds || "10", 10));
  var latest = parseInt(table.dataset.latest || "0", 10);
  var body = table.tBodies[0];
  var fresh = document.getElementById("fresh");
  var total = 0;

  function poll() {
    var url = table.dataset.poll + "&after=" + latest;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (data.new > 0) {
          var holder = document.createElement("tbody");
          holder.innerHTML = data.rows;
          var rows = Array.prototype.slice.call(holder.rows);
          for (var i = rows.length - 1; i >= 0; i--) {
            rows[i].classList.add("new");
            body.insertBefore(rows[i], body.firstChild);
          }
          latest = data.latest;
          total += data.new;
          fresh.textContent = "有 " + total + " 件新工单";
          fresh.hidden = false;
        }
        Object.keys(data.counts).forEach(function (key) {
          var el = document.querySelector('.count[data-box="' + key + '"]');
          if (el) { el.textContent = data.counts[key] >= 1000 ? "999+" : data.counts[key]; }
        });
      })
      .catch(function () { /* the next round tries again */ })
      .finally(function () { window.setTimeout(poll, seconds * 1000); });
  }
  window.setTimeout(poll, seconds * 1000);
})();
