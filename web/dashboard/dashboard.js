// Tessera operator dashboard: the only script (served from /dashboard/assets, allowed by the CSP).
// 1. Forms with data-confirm ask first. 2. Batch progress bars refresh from /dashboard/batches.json
//    while any batch runs. Everything works without it; it only saves clicks and reloads.
'use strict';

document.addEventListener('submit', (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});

function running() {
  return [...document.querySelectorAll('[data-progress]')].some((el) => el.dataset.status !== 'COMPLETED');
}

async function refreshBatches() {
  const res = await fetch('/dashboard/batches.json', { credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (!res.ok) return false;
  const { batches } = await res.json();
  for (const b of batches) {
    const el = document.querySelector(`[data-progress="${CSS.escape(b.key)}"]`);
    if (!el) continue;
    el.dataset.status = b.status;
    const bar = el.querySelector('progress');
    bar.max = b.total;
    bar.value = b.done;
    const pct = b.total > 0 ? Math.floor((b.done / b.total) * 100) : 0;
    el.querySelector('[data-field="done"]').textContent = b.done.toLocaleString('en-US');
    el.querySelector('[data-field="pct"]').textContent = String(pct);
    el.querySelector('[data-field="failed"]').textContent = b.failed.toLocaleString('en-US');
    const badge = document.querySelector(`[data-status-of="${CSS.escape(b.key)}"] .badge`);
    if (badge && badge.textContent !== b.status) {
      badge.textContent = b.status;
      badge.className = 'badge ' + (b.status === 'COMPLETED' ? 'ok' : 'warn');
    }
  }
  return true;
}

if (document.querySelector('[data-progress]')) {
  const tick = async () => {
    if (!running()) return;
    try {
      if (!(await refreshBatches())) return;
    } catch {
      // a missed poll is retried on the next tick
    }
    setTimeout(tick, 1500);
  };
  setTimeout(tick, 1500);
}
