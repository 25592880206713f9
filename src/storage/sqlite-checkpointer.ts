// A worker thread that checkpoints the SQLite WAL with its own connection, so the serving thread's
// commits never stall on a checkpoint's disk syncs (that was the p99 of POST /api/tokens: ~10 ms on
// 1 % of requests). PASSIVE never blocks writers or readers; it copies what it can each round.
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
let db: DatabaseSync;
try {
  db = new DatabaseSync(path);
  db.exec('PRAGMA busy_timeout = 1000');
} catch {
  // The store was closed and removed before this thread started: nothing to checkpoint.
  parentPort?.close();
  process.exit(0);
}
const timer = setInterval(() => {
  try {
    db.exec('PRAGMA wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or closing: the next round tries again.
  }
}, intervalMs);

parentPort?.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
