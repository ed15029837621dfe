/**
 * The BMC driver for the chaos test's line BMC (./line-bmc.ts), loaded into
 * real HIL server processes by ./hil-process.ts. Every call is one TCP
 * connection carrying one JSON line each way; a console is a connection that
 * stays open and streams what the node prints. Each request says which
 * process sent it (its pid), so the BMC can tell who overlapped whom.
 */
import { connect } from 'node:net';
import { Type, type Static } from 'typebox';
import { driverParams } from '../../src/drivers/params.ts';
import type { BmcTarget, ManagedBmcDriver, PowerState } from '../../src/drivers/bmc/interface.ts';

export const LINE_BMC = 'chaos-line';

const LineBmcParams = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
});
type Params = Static<typeof LineBmcParams>;

/** What the BMC answers: `ok`, and the power state where the call asked for it. */
export interface LineAnswer {
  ok: boolean;
  power?: PowerState;
  error?: string;
}

function request(t: BmcTarget<Params>, op: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ op, node: t.nodeLabel, pid: process.pid, ...extra }) + '\n';
}

/** One call: connect, send the request line, read the answer line. */
function call(t: BmcTarget<Params>, op: string, extra: Record<string, unknown> = {}): Promise<LineAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: t.params.host, port: t.params.port });
    let buf = '';
    let settled = false;
    const settle = (err: Error | null, answer?: LineAnswer) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err) reject(err);
      else if (!answer!.ok) reject(new Error(`line BMC: ${answer!.error ?? 'refused'}`));
      else resolve(answer!);
    };
    socket.setTimeout(30_000, () => settle(new Error('line BMC: no answer')));
    socket.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) settle(null, JSON.parse(buf.slice(0, nl)) as LineAnswer);
    });
    socket.on('error', (err) => settle(err));
    socket.on('close', () => settle(new Error('line BMC: the connection closed without an answer')));
    socket.write(request(t, op, extra));
  });
}

export function lineBmcDriver(): ManagedBmcDriver<Params> {
  return {
    type: LINE_BMC,
    params: driverParams('line BMC', LineBmcParams),

    power: {
      async setPower(t, action) {
        await call(t, action === 'on' ? 'power_on' : 'power_off');
      },
      async powerCycle(t, force) {
        await call(t, force ? 'reset' : 'power_cycle');
      },
      async powerStatus(t) {
        return (await call(t, 'power_status')).power ?? 'unknown';
      },
    },

    boot: {
      async setBootDevice(t, device, persistent) {
        await call(t, 'boot', { device, persistent });
      },
    },

    console: {
      open(t, signal) {
        const socket = connect({ host: t.params.host, port: t.params.port });
        socket.write(request(t, 'console'));
        socket.on('error', () => {}); // the output ends; the console hub reopens it
        const cut = () => socket.destroy();
        if (signal.aborted) cut();
        signal.addEventListener('abort', cut, { once: true });
        const output = (async function* () {
          try {
            for await (const chunk of socket) yield chunk as Buffer;
          } catch {
            // closed under us: the stream just ends
          } finally {
            signal.removeEventListener('abort', cut);
            socket.destroy();
          }
        })();
        return { output, write: (data) => void socket.write(data) };
      },
    },
  };
}
