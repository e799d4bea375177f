// Plum's own page script: served from this server (the CSP allows no inline
// script), it only reads data from the DOM and JSON, and writes text (never HTML).
(function () {
  'use strict';

  // Live progress of a run: Server-Sent Events from /runs/ID/progress.
  function followRun(el) {
    var url = el.getAttribute('data-run-events');
    if (!url || typeof EventSource === 'undefined') return;
    var source = new EventSource(url);
    source.addEventListener('run', function (ev) {
      var run;
      try {
        run = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      el.textContent = run.text;
      if (['succeeded', 'failed', 'cancelled', 'partial'].indexOf(run.status) >= 0) {
        source.close();
        // The finished page shows the jobs, raw XML links and results.
        window.location.reload();
      }
    });
  }

  function start() {
    var runs = document.querySelectorAll('[data-run-events]');
    for (var i = 0; i < runs.length; i++) followRun(runs[i]);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
