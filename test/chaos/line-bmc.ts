/**
 * A BMC that lives outside the HIL processes, for the chaos test: a TCP
 * server in the test process holding every node's power state. It logs each
 * operation with its start and end, and notices what a real BMC mishandles:
 * two operations on one node at once, and two console sessions on one node
 * at once (a console session is a connection that stays open; when the HIL
 * process holding it dies, the kernel closes it and the server sees it go).
 * An operation, once received, runs to its end even if its caller dies, as
 * on a real BMC. The protocol: ./line-bmc-driver.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface BmcOp {
  node: string;
  op: string;
  pid: number;
  start: number;
  end: number | null;
}

export interface ConsoleConnection {
  node: string;
  pid: number;
  start: number;
  end: number | null;
}

export interface LineBmcOptions {
  /** How long each operation takes, drawn uniformly from [min, max] ms. */
  latencyMs: [number, number];
  /** How often an open console prints a line. */
  consoleIntervalMs?: number;
}

export class LineBmc {
  readonly ops: BmcOp[] = [];
  readonly consoles: ConsoleConnection[] = [];
  /** Sentences: an operation began on a node while another was under way there. */
  readonly opOverlaps: string[] = [];
  /** Sentences: a console session opened on a node that had one open already. */
  readonly consoleOverlaps: string[] = [];
  /** The most console sessions any node had open at once, by node. */
  readonly maxConsoles = new Map<string, number>();
  readonly #o: LineBmcOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #activeOps = new Map<string, BmcOp[]>();
  readonly #openConsoles = new Map<string, ConsoleConnection[]>();
  readonly #power = new Map<string, 'on' | 'off'>();
  #port = 0;

  constructor(o: LineBmcOptions) {
    this.#o = o;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  get port(): number {
    return this.#port;
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as { port: number }).port;
    return this.#port;
  }

  power(node: string): 'on' | 'off' {
    return this.#power.get(node) ?? 'off';
  }

  /** Console sessions open now, by node. */
  openConsoles(): Map<string, number> {
    return new Map([...this.#openConsoles].map(([node, list]) => [node, list.length]));
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      socket.off('data', onData);
      let req: { op: string; node: string; pid: number };
      try {
        req = JSON.parse(buf.slice(0, nl)) as typeof req;
      } catch {
        socket.end(JSON.stringify({ ok: false, error: 'not JSON' }) + '\n');
        return;
      }
      if (req.op === 'console') this.#console(socket, req.node, req.pid);
      else void this.#operate(socket, req.node, req.op, req.pid);
    };
    socket.on('data', onData);
  }

  async #operate(socket: Socket, node: string, op: string, pid: number): Promise<void> {
    const entry: BmcOp = { node, op, pid, start: Date.now(), end: null };
    this.ops.push(entry);
    const active = this.#activeOps.get(node) ?? [];
    for (const other of active) {
      this.opOverlaps.push(`node ${node}: ${op} from pid ${pid} began while ${other.op} from pid ${other.pid} (since ${other.start}) was under way`);
    }
    active.push(entry);
    this.#activeOps.set(node, active);
    const [min, max] = this.#o.latencyMs;
    await sleep(min + Math.random() * (max - min));
    if (op === 'power_on' || op === 'power_cycle' || op === 'reset') this.#power.set(node, 'on');
    if (op === 'power_off') this.#power.set(node, 'off');
    entry.end = Date.now();
    active.splice(active.indexOf(entry), 1);
    if (!socket.destroyed) socket.end(JSON.stringify({ ok: true, power: this.power(node) }) + '\n');
  }

  #console(socket: Socket, node: string, pid: number): void {
    const session: ConsoleConnection = { node, pid, start: Date.now(), end: null };
    this.consoles.push(session);
    const open = this.#openConsoles.get(node) ?? [];
    for (const other of open) {
      this.consoleOverlaps.push(`node ${node}: a console session from pid ${pid} opened while pid ${other.pid}'s (since ${other.start}) was open`);
    }
    open.push(session);
    this.#openConsoles.set(node, open);
    this.maxConsoles.set(node, Math.max(this.maxConsoles.get(node) ?? 0, open.length));
    let line = 0;
    const timer = setInterval(() => socket.write(`${node} ${line++}\r\n`), this.#o.consoleIntervalMs ?? 100);
    // What is typed comes back, as a serial shell echoes it.
    socket.on('data', (d) => socket.write(`> ${d.toString().trimEnd()}\r\n`));
    socket.once('close', () => {
      clearInterval(timer);
      session.end = Date.now();
      open.splice(open.indexOf(session), 1);
    });
  }
}
