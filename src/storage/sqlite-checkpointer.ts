// A worker thread that checkpoints the SQLite WAL with its own connection, so the serving thread's
// commits never stall on a checkpoint's disk syncs (that was the p99 of POST /api/tokens: ~10 ms on
// 1 % of requests). PASSIVE never blocks writers or readers; it copies what it can each round.
// Messages: this thread sends 'drain' (pause writes, please) and 'resume'; it receives 'paused' and 'stop'.
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
 * Past this many WAL frames (default 64 MB of 4 KB pages) the log is restarted. Under sustained
 * writes a PASSIVE round never copies the last frames (new ones keep coming), so the WAL would never
 * restart and grow without bound (10 GB for a 540,000-record batch). This thread never takes the
 * write lock for it (a RESTART checkpoint holds it while copying and syncing: the serving thread's
 * BEGIN IMMEDIATE then blocked its event loop for busy_timeout and failed, "database is locked").
 * Instead it asks the serving connection to pause its writes ('drain'); once paused, one PASSIVE
 * round copies the few frames written since the last one, the log is then fully copied, and the
 * serving connection's next write starts it over from the beginning. It answers 'resume' either way.
 *
 * What the paused round copies is what was written while the round before it ran: after a full
 * second's round (~100 ms under a bulk load, 25,000 frames a second) that pause was itself ~100 ms,
 * 10 % of the serving thread's time. So before asking, this thread runs catch-up rounds while the
 * writes go on, each copying what came during the last one (about a tenth of it each time), until
 * a round takes under CATCH_UP_MS: the pause then copies a few milliseconds' worth.
 */
const restartFrames = workerData.restartFrames ?? 16_384;
const CATCH_UP_MS = 5;
const CATCH_UP_ROUNDS = 5;
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let draining = false;
const timer = setInterval(() => {
  if (draining) return;
  try {
    const { log } = passive.get();
    if (log <= restartFrames) return;
    for (let i = 0; i < CATCH_UP_ROUNDS; i++) {
      const started = performance.now();
      passive.get();
      if (performance.now() - started < CATCH_UP_MS) break;
    }
    draining = true;
    parentPort.postMessage('drain');
  } catch {
    // Busy or closing: the next round tries again.
  }
}, intervalMs);
parentPort.on('message', (message) => {
  if (message === 'paused') {
    try {
      passive.get();
    } catch {
      // Busy (another process reads an old snapshot): the next round asks again.
    }
    draining = false;
    parentPort.postMessage('resume');
    return;
  }
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export const CHECKPOINTER_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16, codeRangeSizeMb: 8 };
