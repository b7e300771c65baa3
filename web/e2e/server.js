// Building and running the real server binary for the browser tests.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, createWriteStream, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (web/e2e/../..). */
export const ROOT = resolve(here, '..', '..');
/** Where screenshots and server logs go (git-ignored). */
export const ARTIFACTS = join(here, 'artifacts');

/**
 * The server binary: SANCTUARY_BIN when set (run.sh builds it once),
 * otherwise `go build ./cmd/sanctuary` into a temporary folder.
 * @returns {string}
 */
export function serverBinary() {
  if (process.env.SANCTUARY_BIN && existsSync(process.env.SANCTUARY_BIN)) return process.env.SANCTUARY_BIN;
  const out = join(mkdtempSync(join(tmpdir(), 'sanctuary-e2e-')), 'sanctuary');
  execFileSync('go', ['build', '-o', out, './cmd/sanctuary'], { cwd: ROOT, stdio: 'inherit' });
  return out;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * Starts the server in dev mode with loopback-only ICE and waits for /healthz.
 * @param {string} name a label for the log file in artifacts/
 * @param {string[]} [extraArgs] more flags for the server
 * @returns {Promise<{url: string, stop: () => Promise<void>}>}
 */
export async function startServer(name, extraArgs = []) {
  const bin = serverBinary();
  const port = await freePort();
  mkdirSync(ARTIFACTS, { recursive: true });
  const log = createWriteStream(join(ARTIFACTS, `server-${name}.log`));
  const proc = spawn(bin, ['-listen', `127.0.0.1:${port}`, '-dev', '-ice-loopback-only', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  const exited = new Promise((r) => proc.once('exit', r));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}; see artifacts/server-${name}.log`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error('server did not become healthy within 15 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 6000);
      await exited;
      clearTimeout(t);
    },
  };
}
