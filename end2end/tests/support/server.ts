import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A server of the test's own, for tests that stop and start it. */
export class OwnServer {
  private child?: ChildProcess;
  readonly port: string;
  readonly dataDir: string;

  constructor() {
    this.port = execFileSync(process.execPath, [
      '-e',
      "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})",
    ])
      .toString()
      .trim();
    this.dataDir = mkdtempSync(path.join(tmpdir(), 'banter-e2e-own-'));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the server and resolves once it logs that it is listening. */
  async start(): Promise<void> {
    const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(__dirname, '..', '..', '..', 'target');
    const bin = process.env.BANTER_SERVER_BIN ?? path.join(targetDir, 'debug', 'server');
    const siteRoot = process.env.LEPTOS_SITE_ROOT ?? path.join(__dirname, '..', '..', '..', 'target', 'site');
    const child = spawn(
      bin,
      ['--addr', `127.0.0.1:${this.port}`, '--database-url', `sqlite://${this.dataDir}/own.db`, '--site-root', siteRoot],
      { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('listening on http://')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
    });
  }

  /** SIGTERM, and wait for the process to end. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
