// A worker thread that checkpoints the SQLite WAL with its own connection, so the serving thread's
// commits never stall on a checkpoint's disk syncs (that was the p99 of POST /api/tokens: ~10 ms on
// 1 % of requests). PASSIVE never blocks writers or readers; it copies what it can each round.
//
// The thread runs this plain JavaScript (`eval`), not a .ts module: a TypeScript entry point makes
// the thread load its own type stripper (~11 MB), and a thread's isolate is otherwise sized like the
// main one's. `CHECKPOINTER_LIMITS` keep it small: it holds one connection and a timer (~12 MB RSS
// in all, against ~29 MB before).
export const CHECKPOINTER_SOURCE = `
const { DatabaseSync } = require('node:sqlite');
const { parentPort, workerData } = require('node:worker_threads');
const { path, intervalMs } = workerData;
let db;
try {
  db = new DatabaseSync(path);
  db.exec('PRAGMA busy_timeout = 1000');
} catch {
  // The store was closed and removed before this thread started: nothing to checkpoint.
  parentPort.close();
  process.exit(0);
}
/**
 * Past this many WAL frames (64 MB of 4 KB pages) a round also waits for the writer and restarts
 * the log. Under sustained writes a PASSIVE round never copies the last frames (new ones keep
 * coming), so the WAL never restarts and grows without bound: 10 GB, with a 19 MB index mapped in
 * the server, for a 540,000-record batch. A RESTART holds writers for one copy of ≤ 64 MB + a
 * second of writes; with light traffic PASSIVE rounds keep the log short and this never runs.
 */
const RESTART_FRAMES = 16_384;
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    const { log } = passive.get();
    if (log > RESTART_FRAMES) db.exec('PRAGMA wal_checkpoint(RESTART)');
  } catch {
    // Busy or closing: the next round tries again.
  }
}, intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export const CHECKPOINTER_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16, codeRangeSizeMb: 8 };
