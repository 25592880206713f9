import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import type { Instance } from './harness.ts';

/**
 * Real-browser tests drive Debian's Chromium (`apt-get install chromium`, done by `.ci/run`) through
 * playwright-core; Playwright never downloads a browser of its own. The flags keep Chromium off the
 * network this machine does not have (background networking, component updates, sync, QUIC).
 * Playwright gives every launch a fresh, empty profile of its own.
 */
export const CHROMIUM_PATH = process.env.TESSERA_TEST_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!chromiumAvailable()) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: run .ci/run (it installs Debian's chromium) or apt-get install chromium`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

/**
 * Serves a test instance's app on a real port of 127.0.0.1 (the browser needs a socket, not inject).
 * Returns the origin, e.g. `http://127.0.0.1:41234`. The instance's close() closes the listener.
 */
export async function listen(instance: Instance): Promise<string> {
  await instance.app.listen({ host: '127.0.0.1', port: 0 });
  const address = instance.app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}
