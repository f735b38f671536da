import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A free TCP port on loopback. */
export function freePort(): string {
  return execFileSync(process.execPath, [
    '-e',
    "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})",
  ])
    .toString()
    .trim();
}

/** A server of the test's own, for tests that stop and start it or run several. By
 * default on its own SQLite file; `databaseUrl` and `flags` say otherwise. */
export class OwnServer {
  private child?: ChildProcess;
  readonly port: string;
  readonly dataDir: string;
  readonly databaseUrl: string;
  private readonly flags: string[];

  private readonly tls: boolean;

  /** `tls`: serve HTTPS with a self-signed certificate for 127.0.0.1 made now. */
  constructor(options: { databaseUrl?: string; flags?: string[]; tls?: boolean } = {}) {
    this.port = freePort();
    this.dataDir = mkdtempSync(path.join(tmpdir(), 'banter-e2e-own-'));
    this.databaseUrl = options.databaseUrl ?? `sqlite://${this.dataDir}/own.db`;
    this.flags = options.flags ?? [];
    this.tls = options.tls ?? false;
    if (this.tls) {
      const cert = path.join(this.dataDir, 'cert.pem');
      const key = path.join(this.dataDir, 'key.pem');
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', key, '-out', cert,
      ], { stdio: 'ignore' });
      this.flags.push('--tls-cert', cert, '--tls-key', key);
    }
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** Starts the server and resolves once it logs that it is listening. */
  async start(): Promise<void> {
    const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(__dirname, '..', '..', '..', 'target');
    const bin = process.env.BANTER_SERVER_BIN ?? path.join(targetDir, 'debug', 'server');
    const siteRoot = process.env.LEPTOS_SITE_ROOT ?? path.join(__dirname, '..', '..', '..', 'target', 'site');
    const child = spawn(
      bin,
      ['--addr', `127.0.0.1:${this.port}`, '--database-url', this.databaseUrl, '--site-root', siteRoot, ...this.flags],
      { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('listening on ')) resolve();
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

/** A `redis-server` of the test's own on a free port, keeping nothing on disk. */
export class OwnRedis {
  private child?: ChildProcess;
  readonly port = freePort();

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', ['--port', this.port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`redis-server exited with ${code}:\n${output}`)));
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/** A MariaDB database of the test's own (dropped by `drop`), through the `mariadb` client. */
export class OwnMariaDb {
  readonly name = `banter_e2e_${process.pid}_${Date.now()}`;

  get url(): string {
    return `mysql://root@127.0.0.1:3306/${this.name}`;
  }

  private sql(statement: string): void {
    execFileSync('mariadb', ['-h', '127.0.0.1', '-u', 'root', '-e', statement]);
  }

  create(): void {
    this.sql(`CREATE DATABASE \`${this.name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  }

  drop(): void {
    this.sql(`DROP DATABASE IF EXISTS \`${this.name}\``);
  }
}
