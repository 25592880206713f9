// autocannon ships no types and @types/autocannon is not a dependency: this declares only the
// slice of its programmatic API the bench uses, so `npm run typecheck` covers bench/ too.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  export interface Options {
    url: string;
    /** Concurrent connections. Default 10. */
    connections?: number;
    /** Seconds. Default 10. */
    duration?: number;
    /** Requests in flight per connection. Default 1. */
    pipelining?: number;
    /** Seconds before a request counts as a timeout. Default 10. */
    timeout?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    renderProgressBar?: boolean;
    renderResultsTable?: boolean;
    renderLatencyTable?: boolean;
  }

  export interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    p50: number;
    p90: number;
    p99: number;
    p99_9: number;
    total: number;
  }

  export interface Result {
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    resets: number;
    '1xx': number;
    '2xx': number;
    '3xx': number;
    '4xx': number;
    '5xx': number;
    statusCodeStats: Record<string, { count: number }>;
    latency: Histogram;
    requests: Histogram;
    throughput: Histogram;
  }

  /** The running instance: an event emitter that is also a promise of the result. */
  export interface Instance extends EventEmitter, PromiseLike<Result> {
    /** Ends the run at its next one-second tick; the promise then resolves. */
    stop(): void;
  }

  function autocannon(options: Options): Instance;
  export default autocannon;
}
