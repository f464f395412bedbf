/* The live desk: one WebSocket (/ws/desk/), a snapshot then every event in outbox order.
 *
 * The page keeps its position (the last event applied) and reconnects by itself with ?after=<position>,
 * so a dropped connection resumes where it stopped and misses nothing; a position the server no longer
 * keeps is answered with a fresh snapshot. Events are applied by their ids (position, order, signal,
 * bar time), so seeing one twice changes nothing.
 *
 * window.desk exposes the state for tests and benchmarks: position, counts of events applied by kind,
 * and when each fill reached the page (fillShownAt[client order id] = Date.now()).
 */
(function () {
  "use strict";
  const root = document.getElementById("desk");
  if (!root) return;
  const index = root.dataset.index;
  const $ = (id) => document.getElementById(id);
  const num = (v) => (v === null || v === undefined || v === "" ? null : Number(v));
  const inr = new Intl.NumberFormat("en-IN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const money = (v) => (num(v) === null ? "-" : inr.format(num(v)));
  const fixed = (v, d) => (num(v) === null ? "-" : num(v).toFixed(d));
  const pct = (v, d = 1) => (num(v) === null ? "-" : (num(v) * 100).toFixed(d) + "%");
  const ist = (iso) =>
    iso ? new Date(iso).toLocaleTimeString("en-GB", { timeZone: "Asia/Kolkata", hour: "2-digit", minute: "2-digit" }) : "-";
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const signed = (v) => {
    const n = num(v);
    return n === null ? "" : n > 0 ? "win" : n < 0 ? "loss" : "";
  };

  const state = {
    position: null,
    session: null,
    market: null,
    feed: { state: "up" },
    controls: { kill_switch: false, breaker: false, breaker_reason: "" },
    positions: new Map(),
    orders: new Map(),
    signals: new Map(),
    trades: new Map(),
    curve: new Map(),
  };
  const desk = (window.desk = { state, position: null, applied: {}, fillShownAt: {}, snapshots: 0, connects: 0 });

  // --- applying messages -------------------------------------------------------------------------------
  function resetDay(session) {
    state.session = session;
    state.orders.clear();
    state.trades.clear();
    state.curve.clear();
  }

  function applySnapshot(s) {
    resetDay(s.session);
    state.positions.clear();
    state.signals.clear();
    state.market = s.market;
    state.feed = s.feed || { state: "up" };
    state.controls = s.controls;
    for (const p of s.positions) state.positions.set(p.position_id, p);
    for (const o of s.orders.slice().reverse()) state.orders.set(o.client_order_id, o);
    for (const sig of s.signals.slice().reverse()) state.signals.set(String(sig.signal_id), sig);
    for (const t of s.trades) state.trades.set(t.trade_id, t);
    for (const pt of s.pnl_curve) state.curve.set(pt.time, pt);
    desk.snapshots += 1;
    setPosition(s.position);
    renderAll();
  }

  const handlers = {
    bar(e, d) {
      if (d.session && d.session !== state.session) resetDay(d.session);
      state.market = d;
      state.curve.set(d.time, { time: d.time, day_pnl: d.day_pnl, realised: d.realised, unrealised: d.unrealised });
      dirty.market = dirty.chart = true;
    },
    signal(e, d) {
      state.signals.delete(e.key);
      state.signals.set(e.key, d);
      while (state.signals.size > 100) state.signals.delete(state.signals.keys().next().value);
      dirty.signals = true;
    },
    order(e, d) {
      state.orders.set(e.key, Object.assign(state.orders.get(e.key) || {}, d));
      dirty.orders = true;
    },
    fill(e, d) {
      const o = state.orders.get(e.key);
      if (o) Object.assign(o, { filled_quantity: d.quantity, average_price: d.price });
      dirty.orders = true;
      dirty.fills.push(e.key);
    },
    "position.opened"(e, d) {
      state.positions.set(e.key, Object.assign(state.positions.get(e.key) || {}, d));
      dirty.positions = true;
    },
    "position.marked"(e, d) {
      if (!state.positions.has(e.key)) return; // closed already (a resumed stream replays its marks)
      Object.assign(state.positions.get(e.key), d);
      dirty.positions = true;
    },
    "position.closed"(e) {
      state.positions.delete(e.key);
      dirty.positions = true;
    },
    "trade.recorded"(e, d) {
      if (!d.trade_date || !state.session || d.trade_date === state.session) state.trades.set(e.key, d);
      dirty.trades = true;
    },
    breaker(e, d) {
      state.controls.breaker = d.on;
      state.controls.breaker_reason = d.reason || "";
      dirty.controls = true;
    },
    kill_switch(e, d) {
      state.controls.kill_switch = d.on;
      dirty.controls = true;
    },
    feed(e, d) {
      state.feed = d;
      dirty.market = true;
    },
    mode() {},
    "session.closed"() {},
  };
  const dirty = { fills: [] };

  function applyEvents(frame) {
    for (const e of frame.events) {
      if (state.position !== null && e.seq <= state.position) continue;
      const handle = handlers[e.kind];
      if (handle) handle(e, e.data || {});
      desk.applied[e.kind] = (desk.applied[e.kind] || 0) + 1;
      state.position = e.seq;
    }
    setPosition(frame.position);
    render();
  }

  function setPosition(p) {
    if (p === null || p === undefined) return;
    state.position = Math.max(state.position ?? 0, p);
    desk.position = state.position;
    root.dataset.position = state.position;
  }

  // --- rendering ---------------------------------------------------------------------------------------
  function renderAll() {
    Object.assign(dirty, { market: true, chart: true, signals: true, orders: true, positions: true, trades: true, controls: true });
    render();
  }

  function render() {
    if (dirty.market) renderMarket();
    if (dirty.positions) renderPositions();
    if (dirty.orders) renderOrders();
    if (dirty.signals) renderSignals();
    if (dirty.trades) renderTrades();
    if (dirty.controls) renderControls();
    if (dirty.chart) scheduleChart();
    const now = Date.now();
    for (const coid of dirty.fills) if (!(coid in desk.fillShownAt)) desk.fillShownAt[coid] = now;
    Object.assign(dirty, { market: false, positions: false, orders: false, signals: false, trades: false, controls: false, chart: false, fills: [] });
  }

  function renderMarket() {
    const m = state.market || {};
    $("session").textContent = state.session ? state.session : "";
    $("m-spot").textContent = fixed(m.spot, 2);
    $("m-vix").textContent = fixed(m.vix, 2);
    $("m-pcr").textContent = fixed(m.pcr, 2);
    $("m-maxpain").textContent = fixed(m.max_pain, 0);
    $("m-atmiv").textContent = pct(m.atm_iv);
    const minutes = num(m.minutes_to_expiry);
    $("m-tte").textContent = minutes === null ? "-" : minutes >= 1440 ? (minutes / 1440).toFixed(1) + " d" : (minutes / 60).toFixed(1) + " h";
    $("m-tte").title = m.expiry ? "expiry " + m.expiry : "";
    $("m-bar").textContent = ist(m.time);
    const feed = state.feed || { state: "up" };
    $("m-feed").textContent = feed.state;
    $("m-feed").className = feed.state === "up" ? "win" : "loss";
    $("pnl-day").textContent = money(m.day_pnl);
    $("pnl-day").className = signed(m.day_pnl);
    $("pnl-realised").textContent = money(m.realised);
    $("pnl-unrealised").textContent = money(m.unrealised);
  }

  function level(price, to, toPct) {
    if (num(price) === null) return "-";
    return `${fixed(price, 2)} <span class="dist">(${fixed(to, 2)}${num(toPct) === null ? "" : ", " + fixed(toPct, 1) + "%"})</span>`;
  }

  function renderPositions() {
    const body = $("positions").tBodies[0];
    const rows = [...state.positions.values()];
    $("positions-count").textContent = rows.length ? `(${rows.length})` : "";
    if (!rows.length) {
      body.innerHTML = '<tr class="empty"><td colspan="14" class="muted">No open position.</td></tr>';
      return;
    }
    body.innerHTML = rows
      .map((p) => {
        const g = p.greeks || {};
        return `<tr data-position-id="${esc(p.position_id)}" data-last="${esc(p.last_price)}">
          <td>${esc(p.tradingsymbol)}</td><td>${esc(p.strategy)}</td><td class="num">${esc(p.quantity)}</td>
          <td class="num">${fixed(p.entry_price, 2)}</td><td class="num mark">${fixed(p.last_price, 2)}</td>
          <td class="num unrealised ${signed(p.unrealised)}">${money(p.unrealised)}</td>
          <td class="num">${fixed(g.delta, 2)}</td><td class="num">${fixed(g.gamma, 4)}</td><td class="num">${fixed(g.theta, 2)}</td>
          <td class="num">${fixed(g.vega, 2)}</td><td class="num">${pct(g.iv)}</td>
          <td class="num">${level(p.stop, p.to_stop, p.to_stop_pct)}</td>
          <td class="num">${level(p.target, p.to_target, p.to_target_pct)}</td>
          <td class="num">${level(p.trail, p.to_trail, p.to_trail_pct)}</td></tr>`;
      })
      .join("");
  }

  function renderOrders() {
    const rows = [...state.orders.values()].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
    $("orders").tBodies[0].innerHTML = rows
      .slice(0, 200)
      .map(
        (o) => `<tr data-client-order-id="${esc(o.client_order_id)}" data-status="${esc(o.status)}">
        <td>${ist(o.created_at)}</td><td title="${esc(o.strategy)} ${esc(o.purpose)}">${esc(o.client_order_id)}</td><td>${esc(o.tradingsymbol)}</td>
        <td>${esc(o.transaction_type)}</td><td class="num">${esc(o.quantity)}</td><td class="num">${esc(o.filled_quantity)}</td>
        <td class="num">${fixed(o.average_price, 2)}</td><td><span class="status ${esc(o.status)}">${esc(o.status)}</span></td>
        <td>${esc(o.reason)}</td></tr>`
      )
      .join("");
  }

  function renderSignals() {
    const rows = [...state.signals.values()].reverse();
    $("signals").innerHTML = rows
      .map((s) => {
        const ok = s.status === "ACCEPTED";
        const why = ok ? esc(s.reason) : `${esc(s.reject_reason)}${s.reject_detail ? ": " + esc(s.reject_detail) : ""}`;
        return `<li data-signal-id="${esc(s.signal_id)}" class="${ok ? "accepted" : "rejected"}">
          <span class="tag">${ok ? "accepted" : "refused"}</span>${ist(s.bar_time)} <b>${esc(s.strategy)}</b> ${esc(s.direction)}
          <span class="muted">${why}</span></li>`;
      })
      .join("");
  }

  function renderTrades() {
    const rows = [...state.trades.values()];
    $("trades-count").textContent = rows.length ? `(${rows.length})` : "";
    $("trades").tBodies[0].innerHTML = rows
      .map(
        (t) => `<tr data-trade-id="${esc(t.trade_id)}"><td>${ist(t.exit_time)}</td><td>${esc(t.tradingsymbol)}</td><td>${esc(t.strategy)}</td>
        <td class="num">${esc(t.quantity)}</td><td class="num">${fixed(t.entry_price, 2)}</td><td class="num">${fixed(t.exit_price, 2)}</td>
        <td>${esc(t.exit_type)}</td><td class="num ${signed(t.net_pnl)}">${money(t.net_pnl)}</td></tr>`
      )
      .join("");
  }

  function renderControls() {
    const c = state.controls;
    const kill = $("kill-state");
    kill.textContent = c.kill_switch ? "ON: no new entries, positions squared off" : "off";
    kill.dataset.on = c.kill_switch ? "1" : "0";
    const breaker = $("breaker-state");
    breaker.textContent = c.breaker ? "TRIPPED" : "off";
    breaker.dataset.on = c.breaker ? "1" : "0";
    $("breaker-reason").textContent = c.breaker ? c.breaker_reason : "";
    const killButton = $("kill-button");
    if (killButton) killButton.textContent = c.kill_switch ? "Turn kill switch off" : "KILL: square off everything";
    const breakerButton = $("breaker-button");
    if (breakerButton) breakerButton.hidden = !c.breaker;
  }

  // --- the P&L chart (Chart.js, vendored), redrawn at most once a frame ------------------------------
  let chart = null;
  let chartQueued = false;
  function scheduleChart() {
    if (chartQueued) return;
    chartQueued = true;
    requestAnimationFrame(() => {
      chartQueued = false;
      drawChart();
    });
  }
  function drawChart() {
    const points = [...state.curve.values()].sort((a, b) => a.time.localeCompare(b.time));
    const canvas = $("pnl-chart");
    canvas.dataset.points = String(points.length);
    if (typeof Chart === "undefined") return;
    const labels = points.map((p) => ist(p.time));
    const values = points.map((p) => num(p.day_pnl));
    if (!chart) {
      chart = new Chart(canvas, {
        type: "line",
        data: { labels, datasets: [{ label: "Day P&L (Rs)", data: values, borderColor: "#1f5fbf", borderWidth: 1.5, pointRadius: 0, fill: { target: "origin", above: "rgba(15,138,75,.12)", below: "rgba(198,40,40,.12)" } }] },
        options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { x: { ticks: { maxTicksLimit: 7 } } } },
      });
    } else {
      chart.data.labels = labels;
      chart.data.datasets[0].data = values;
      chart.update("none");
    }
  }

  // --- the connection ----------------------------------------------------------------------------------
  let socket = null;
  let backoff = 500;
  let lastMessage = Date.now();
  function setConn(stateName, text) {
    const conn = $("conn");
    conn.dataset.state = stateName;
    conn.querySelector("span").textContent = text || stateName;
  }

  function connect() {
    const query = new URLSearchParams({ index });
    if (state.position !== null) query.set("after", String(state.position));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/ws/desk/?${query}`);
    desk.connects += 1;
    setConn(desk.connects === 1 ? "connecting" : "reconnecting", desk.connects === 1 ? "connecting" : "reconnecting...");
    socket.onopen = () => {
      backoff = 500;
      lastMessage = Date.now();
      setConn("live", "live");
    };
    socket.onmessage = (msg) => {
      lastMessage = Date.now();
      const frame = JSON.parse(msg.data);
      if (frame.type === "snapshot") applySnapshot(frame);
      else if (frame.type === "events") applyEvents(frame);
      else if (frame.type === "heartbeat") setPosition(frame.position);
    };
    socket.onclose = (ev) => {
      socket = null;
      if (ev.code === 4401 || ev.code === 4403) {
        setConn("refused", ev.code === 4401 ? "logged out" : "not allowed");
        return;
      }
      setConn("reconnecting", "reconnecting...");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 5000);
    };
  }
  // A connection silent for 15 s (the server sends a heartbeat every 5 s) is dead: drop it and resume.
  setInterval(() => {
    if (socket && socket.readyState === WebSocket.OPEN && Date.now() - lastMessage > 15000) socket.close();
  }, 2000);
  desk.dropConnection = () => socket && socket.close();

  // --- controls (operators): a confirmation dialog, then the audited service ---------------------------
  const dialog = $("confirm");
  function confirmThen(title, text, url, fields) {
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-reason").value = "";
    dialog.returnValue = "";
    dialog.onclose = async () => {
      if (dialog.returnValue !== "ok") return;
      const body = new FormData($("confirm-form"));
      body.set("index", index);
      for (const [k, v] of Object.entries(fields)) body.set(k, v);
      const answer = await fetch(url, { method: "POST", body, credentials: "same-origin" });
      if (!answer.ok) alert(`Refused (${answer.status})`);
    };
    dialog.showModal();
  }
  const killButton = $("kill-button");
  if (killButton)
    killButton.addEventListener("click", () => {
      const on = !state.controls.kill_switch;
      confirmThen(
        on ? "Turn the kill switch ON?" : "Turn the kill switch off?",
        on ? "Every open position is squared off and no new entry is taken." : "New entries are allowed again.",
        "/desk/kill-switch/",
        { on: on ? "1" : "0" }
      );
    });
  const breakerButton = $("breaker-button");
  if (breakerButton)
    breakerButton.addEventListener("click", () =>
      confirmThen("Reset the circuit breaker?", "Entries resume today; the loss counters restart now.", "/desk/breaker-reset/", {})
    );

  renderAll();
  connect();
})();
