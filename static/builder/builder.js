/* The strategy builder page: legs in a table, every change posted to /api/builder/payoff, the answer
   drawn - the payoff chart (vendored Chart.js), the figures, the Greeks table, the margin estimate.
   Save and backtest post to the builder's API. Numbers come from the server only. */
(function () {
  "use strict";
  var start = JSON.parse(document.getElementById("builder-start").textContent);
  var urls = JSON.parse(document.getElementById("builder-urls").textContent);
  var csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  var tbody = document.querySelector("#legs-table tbody");
  var errorBox = document.getElementById("builder-error");
  var chart = null;
  var timer = null;
  var sequence = 0;
  var template = "";
  var expiries = start.expiries || [];
  var templates = {};
  Array.prototype.forEach.call(document.querySelectorAll("#template option"), function (o) { if (o.value) { templates[o.value] = true; } });

  document.getElementById("spot").value = start.spot === null ? "" : start.spot;
  document.getElementById("iv").value = (start.iv * 100).toFixed(1);

  function rupees(v) {
    if (v === null || v === undefined) { return "unlimited"; }
    var s = Math.abs(v).toLocaleString("en-IN", { maximumFractionDigits: 0 });
    return (v < 0 ? "-" : "") + "\u20b9" + s;
  }
  function num(v, digits) {
    return Number(v).toLocaleString("en-IN", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function cell(html) { var td = document.createElement("td"); td.innerHTML = html; return td; }
  function select(cls, options, value) {
    var s = document.createElement("select");
    s.className = cls;
    options.forEach(function (o) {
      var opt = document.createElement("option");
      opt.value = o; opt.textContent = o; if (o === value) { opt.selected = true; }
      s.appendChild(opt);
    });
    return s;
  }
  function input(cls, value, step) {
    var i = document.createElement("input");
    i.type = "number"; i.className = cls; i.step = step; i.min = "0"; i.inputMode = "decimal";
    i.value = value === null || value === undefined ? "" : value;
    return i;
  }

  function addLeg(leg) {
    leg = leg || {};
    var tr = document.createElement("tr");
    var spot = Number(document.getElementById("spot").value) || 0;
    var step = start.step || 50;
    var strike = leg.strike !== undefined ? leg.strike : (spot ? Math.round(spot / step) * step : "");
    var expiry = leg.expiry || expiries[0] || "";
    var exp = select("expiry", expiries.indexOf(expiry) >= 0 ? expiries : [expiry].concat(expiries), expiry);
    var td;
    td = document.createElement("td"); td.appendChild(select("type", ["CE", "PE", "FUT"], leg.type || "CE")); tr.appendChild(td);
    td = document.createElement("td"); td.appendChild(select("side", ["BUY", "SELL"], leg.side || "BUY")); tr.appendChild(td);
    td = document.createElement("td"); td.appendChild(input("strike", strike, "any")); tr.appendChild(td);
    td = document.createElement("td"); td.appendChild(exp); tr.appendChild(td);
    td = document.createElement("td"); td.appendChild(input("lots", leg.lots || 1, "1")); tr.appendChild(td);
    td = document.createElement("td"); td.appendChild(input("premium", leg.premium, "0.05")); tr.appendChild(td);
    tr.appendChild(cell("")).className = "num units";
    var remove = document.createElement("button");
    remove.type = "button"; remove.className = "remove secondary"; remove.textContent = "Remove";
    remove.addEventListener("click", function () { tr.remove(); template = ""; schedule(); });
    td = document.createElement("td"); td.appendChild(remove); tr.appendChild(td);
    tbody.appendChild(tr);
  }

  function legs() {
    return Array.prototype.map.call(tbody.querySelectorAll("tr"), function (tr) {
      var leg = {
        type: tr.querySelector(".type").value,
        side: tr.querySelector(".side").value,
        expiry: tr.querySelector(".expiry").value,
        lots: Number(tr.querySelector(".lots").value)
      };
      var strike = tr.querySelector(".strike").value;
      if (leg.type !== "FUT") { leg.strike = strike === "" ? null : Number(strike); }
      var premium = tr.querySelector(".premium").value;
      if (premium !== "") { leg.premium = Number(premium); }
      return leg;
    });
  }

  function body() {
    var b = {
      index: document.getElementById("index").value,
      spot: Number(document.getElementById("spot").value),
      iv: Number(document.getElementById("iv").value) / 100,
      legs: legs()
    };
    var days = document.getElementById("days").value;
    if (days !== "") { b.days_to_expiry = Number(days); }
    return b;
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(data)
    }).then(function (r) { return r.json().then(function (d) { return { status: r.status, data: d }; }); });
  }

  function showError(data) {
    var rows = tbody.querySelectorAll("tr");
    Array.prototype.forEach.call(rows, function (tr) { tr.classList.remove("bad"); });
    if (!data) { errorBox.textContent = ""; return; }
    var field = Object.keys(data)[0];
    var message = Array.isArray(data[field]) ? data[field][0] : data[field];
    var m = /^legs\[(\d+)\]/.exec(field);
    if (m && rows[Number(m[1])]) { rows[Number(m[1])].classList.add("bad"); }
    errorBox.textContent = (m ? "Leg " + (Number(m[1]) + 1) + " " + field.slice(m[0].length + 1) : field) + ": " + message;
  }

  function figure(key, text) { document.querySelector("#figures [data-k=" + key + "]").textContent = text; }

  function draw(d) {
    figure("max_profit", rupees(d.max_profit));
    figure("max_loss", rupees(d.max_loss));
    figure("breakevens", d.breakevens.length ? d.breakevens.map(function (x) { return num(x, 2); }).join(", ") : "none");
    figure("probability_of_profit", num(d.probability_of_profit * 100, 1) + "%");
    figure("net_premium", rupees(d.net_premium));
    figure("margin", rupees(d.margin.total));
    figure("days_to_expiry", num(d.days_to_expiry, 2));
    var rows = tbody.querySelectorAll("tr");
    d.legs.forEach(function (leg, i) {
      if (!rows[i]) { return; }
      rows[i].querySelector(".units").textContent = leg.quantity;
      var p = rows[i].querySelector(".premium");
      p.placeholder = num(leg.premium, 2);
    });
    var gb = document.querySelector("#greeks-table tbody");
    gb.innerHTML = "";
    d.legs.forEach(function (leg, i) {
      var tr = document.createElement("tr");
      var name = (i + 1) + ". " + leg.side + " " + leg.lots + " x " + (leg.strike === null ? "" : leg.strike + " ") + leg.type + " " + leg.expiry;
      [name, num(leg.greeks.delta, 2), num(leg.greeks.gamma, 4), num(leg.greeks.vega, 2), num(leg.greeks.theta, 2)]
        .forEach(function (v, j) { var td = cell(""); td.textContent = v; if (j) { td.className = "num"; } tr.appendChild(td); });
      gb.appendChild(tr);
    });
    var g = d.greeks;
    document.querySelector("#greeks-table tfoot").innerHTML = "";
    var net = document.createElement("tr");
    ["Net", num(g.delta, 2), num(g.gamma, 4), num(g.vega, 2), num(g.theta, 2)].forEach(function (v, j) {
      var td = cell(""); td.textContent = v; if (j) { td.className = "num"; } net.appendChild(td);
    });
    document.querySelector("#greeks-table tfoot").appendChild(net);
    var expiry = d.curve.spot.map(function (x, i) { return { x: x, y: d.curve.at_expiry[i] }; });
    var today = d.curve.spot.map(function (x, i) { return { x: x, y: d.curve.today[i] }; });
    if (!window.Chart) { return; }
    if (chart) {
      chart.data.datasets[0].data = expiry;
      chart.data.datasets[1].data = today;
      chart.update();
      return;
    }
    chart = new Chart(document.getElementById("payoff-chart"), {
      type: "scatter",
      data: { datasets: [
        { label: "At expiry", data: expiry, showLine: true, pointRadius: 0, borderColor: "#1f5fbf", borderWidth: 2 },
        { label: "Today", data: today, showLine: true, pointRadius: 0, borderColor: "#e08a00", borderWidth: 1.5, borderDash: [5, 4] }
      ] },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { type: "linear", title: { display: true, text: "Index at expiry" } },
          y: { title: { display: true, text: "P&L (\u20b9, whole combo)" } }
        },
        plugins: { tooltip: { mode: "nearest", intersect: false } }
      }
    });
  }

  function compute() {
    var mine = ++sequence;
    var b = body();
    if (!b.legs.length) { showError({ legs: ["add a leg"] }); return; }
    post(urls.payoff, b).then(function (r) {
      if (mine !== sequence) { return; }  // a newer request is on its way
      if (r.status !== 200) { showError(r.data); return; }
      showError(null);
      draw(r.data);
      document.body.dataset.computed = String(mine);
    }).catch(function (e) { errorBox.textContent = String(e); });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(compute, 250);
  }

  function useTemplate() {
    var name = document.getElementById("template").value;
    if (!name) { return; }
    var b = body();
    post(urls.template, { template: name, index: b.index, spot: b.spot, iv: b.iv,
                          lots: Number(document.getElementById("template-lots").value) || 1 })
      .then(function (r) {
        if (r.status !== 200) { showError(r.data); return; }
        tbody.innerHTML = "";
        r.data.legs.forEach(function (leg) { addLeg(leg); });
        template = name;
        compute();
      });
  }

  document.getElementById("builder-form").addEventListener("input", function (e) {
    if (e.target.id !== "template" && e.target.id !== "template-lots") { schedule(); }
  });
  document.getElementById("builder-form").addEventListener("submit", function (e) { e.preventDefault(); compute(); });
  document.getElementById("use-template").addEventListener("click", useTemplate);
  tbody.addEventListener("input", schedule);  // a template stays named: the server keeps its exits only while the legs match it
  tbody.addEventListener("change", schedule);
  document.getElementById("add-leg").addEventListener("click", function () { addLeg(); template = ""; schedule(); });

  var saveForm = document.getElementById("save-form");
  var result = document.getElementById("backtest-result");
  function comboLabel(combo) {
    if (combo.spec) { return (combo.spec.name || "custom") + " (" + combo.spec.legs.length + " legs)"; }
    if (combo.template) { return combo.template; }
    return ["call", "put"].filter(function (d) { return combo[d]; })
      .map(function (d) { return d.toUpperCase() + ": " + combo[d]; }).join(" / ");
  }
  function savedRow(s) {
    var table = document.querySelector("#saved-table tbody");
    var none = table.querySelector("tr.none");
    if (none) { none.remove(); }
    var old = table.querySelector("tr[data-name='" + s.name + "']");
    var tr = document.createElement("tr");
    tr.dataset.name = s.name;
    [s.name, s.index, comboLabel(s.combo)].forEach(function (v) {
      var td = cell(""); td.textContent = v; tr.appendChild(td);
    });
    var buttons = [["load secondary", "Load"]];
    if (document.getElementById("backtest-form")) { buttons.push(["backtest", "Backtest"]); }
    buttons.forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button"; button.className = b[0]; button.dataset.name = s.name; button.textContent = b[1];
      var td = document.createElement("td"); td.appendChild(button); tr.appendChild(td);
    });
    if (old) { old.replaceWith(tr); } else { table.appendChild(tr); }
  }
  document.getElementById("saved-table").addEventListener("click", function (e) {
    var button = e.target.closest("button.load");
    if (!button) { return; }
    var b = body();
    post(urls.template, { strategy: button.dataset.name, spot: b.spot, iv: b.iv }).then(function (r) {
      if (r.status !== 200) { showError(r.data); return; }
      document.getElementById("index").value = r.data.index;
      tbody.innerHTML = "";
      r.data.legs.forEach(function (leg) { addLeg(leg); });
      template = r.data.template in templates ? r.data.template : "";
      compute();
    });
  });
  if (saveForm) {
    saveForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var b = body();
      b.strategy = document.getElementById("save-strategy").value;
      var name = document.getElementById("save-name").value;
      if (name) { b.name = name; }
      if (template) { b.template = template; }
      post(urls.strategies, b).then(function (r) {
        if (r.status !== 200) { showError(r.data); return; }
        showError(null);
        savedRow(r.data);
        result.className = "";
        result.textContent = "Saved: " + r.data.name + " trades " + comboLabel(r.data.combo) + ".";
      });
    });
  }
  if (document.getElementById("backtest-form")) {
    var today = new Date();
    var monthAgo = new Date(today.getTime() - 30 * 86400000);
    document.getElementById("bt-end").value = today.toISOString().slice(0, 10);
    document.getElementById("bt-start").value = monthAgo.toISOString().slice(0, 10);
    document.getElementById("saved-table").addEventListener("click", function (e) {
      var button = e.target.closest("button.backtest");
      if (!button) { return; }
      result.className = "";
      result.textContent = "Starting a backtest of " + button.dataset.name + "...";
      post(urls.backtest.replace("STRATEGY", encodeURIComponent(button.dataset.name)), {
        start: document.getElementById("bt-start").value,
        end: document.getElementById("bt-end").value,
        seed: Number(document.getElementById("bt-seed").value || 7),
        data_source: document.getElementById("bt-data").value
      }).then(function (r) {
        result.innerHTML = "";
        if (r.status === 201) {
          result.className = "win";
          var link = document.createElement("a");
          link.href = r.data.url; link.id = "backtest-link";
          link.textContent = "Backtest run " + r.data.id;
          result.appendChild(link);
          var s = r.data.summary || {};
          result.appendChild(document.createTextNode(": " + r.data.status +
            (s.combos === undefined ? "" : ", " + s.combos + " combos, " + s.trades + " trades, net " +
             rupees(Number(s.net_pnl))) + "."));
        } else {
          result.className = "loss";
          var key = Object.keys(r.data)[0];
          result.textContent = (key === "detail" ? "" : key + ": ") + [].concat(r.data[key])[0];
        }
      });
    });
  }

  if (start.spot) {
    addLeg({ type: "CE", side: "BUY" });
    compute();
  }
})();
