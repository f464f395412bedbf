// A run's or a sweep's progress bar: polls its JSON (data-progress-url) while it is queued or running,
// and reloads the page once it has finished (its figures and report are then drawn by the server).
(function () {
  "use strict";
  const box = document.querySelector("[data-progress-url]");
  if (!box) return;
  const bar = box.querySelector("progress");
  const text = box.querySelector("[data-progress-text]");
  const status = box.querySelector("[data-status-text]");
  const finished = (s) => s === "DONE" || s === "FAILED";
  if (finished(box.dataset.status)) return;
  async function poll() {
    try {
      const response = await fetch(box.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const p = await response.json();
        bar.value = p.progress;
        const pct = (100 * p.progress).toFixed(1) + "%";
        if (p.preparing) text.textContent = "preparing the market";
        else text.textContent = p.total !== undefined ? `${pct} (${p.done + p.failed}/${p.total})` : `${pct} (${p.bars_done}/${p.bars_total} bars)`;
        if (status) status.textContent = p.status;
        box.dataset.status = p.status;
        if (finished(p.status)) {
          window.location.reload();
          return;
        }
      }
    } catch (e) {
      /* a missed poll: the next one catches up */
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 500);
})();
