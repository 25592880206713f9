/**
 * What callers hand over in one turn of the event loop, taken together: once the turn is over
 * (`setImmediate`), `run` gets them in batches of at most `max`, one batch at a time; what arrives
 * while a batch runs waits for the next. `run` settles each item itself and must not throw.
 */
export class TurnQueue<T> {
  readonly #run: (batch: T[]) => Promise<void>;
  readonly #max: number;
  #waiting: T[] = [];
  #scheduled = false;
  #running = false;

  constructor(run: (batch: T[]) => Promise<void>, max: number) {
    this.#run = run;
    this.#max = max;
  }

  push(item: T): void {
    this.#waiting.push(item);
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) await this.#run(this.#waiting.splice(0, this.#max));
    } finally {
      this.#running = false;
    }
  }
}
