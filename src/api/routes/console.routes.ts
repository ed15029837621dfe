/** A node's serial console: streamed, its rolling log, and interactive over a WebSocket. */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Delegated } from '../../core/obm.service.ts';
import { ValidationError } from '../../errors.ts';
import { route } from '../route.ts';
import { Bytes, Path } from '../../wire/common.ts';
import type { Services } from '../services.ts';
import { REDIRECT_NOTE } from './obm.routes.ts';

type InteractiveConsole = Awaited<ReturnType<Services['obm']['interactiveConsole']>>;
/** The server side of a WebSocket, as @fastify/websocket hands it over (ws's). */
type ConsoleSocket = Parameters<NonNullable<Parameters<FastifyInstance['route']>[0]['wsHandler']>>[0];

export function consoleRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['obm'];
  const node = Path('node');

  route(
    app,
    {
      method: 'GET',
      url: '/v0/node/:node/console',
      operationId: 'nodeConsole',
      summary: 'Stream the serial console (one reader at a time; a new one displaces the old).' + REDIRECT_NOTE,
      tags,
      params: node,
      response: { 200: Bytes('application/octet-stream, until either side closes') },
    },
    async (req, reply) => {
      const gone = new AbortController();
      reply.raw.once('close', () => gone.abort());
      const result = await s.obm.console(req.principal, req.params.node, gone.signal);
      if (result instanceof Delegated) return result;
      // We stream by hand, sending the headers at once: a quiet serial line may
      // print nothing for a long time, and a client must not wait for them.
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'application/octet-stream', 'x-request-id': req.id });
      reply.raw.flushHeaders();
      await pipeline(Readable.from(result), reply.raw).catch(() => {}); // the reader hung up, or the console ended
      return reply;
    },
  );
  route(
    app,
    {
      method: 'GET',
      url: '/v0/node/:node/console_log',
      operationId: 'nodeConsoleLog',
      summary: "The node's rolling console log (the last bytes read while its OBM was enabled, during its time in the caller's project). Not in upstream.",
      tags,
      params: node,
      response: { 200: Bytes() },
    },
    async (req, reply) => reply.type('application/octet-stream').send(await s.obm.consoleLog(req.principal, req.params.node)),
  );
  interactiveConsoleRoute(app, s, tags, node);
}

function interactiveConsoleRoute(app: FastifyInstance, s: Services, tags: string[], node: ReturnType<typeof Path<'node'>>): void {
  // The interactive console: a WebSocket. Authentication, authorization and
  // "OBM enabled" are checked before the upgrade, so a refusal is a normal
  // HTTP error; then binary frames carry the console both ways. A plain GET
  // (no upgrade) opens nothing: the BMC's one console session stays free.
  const open = new WeakMap<FastifyRequest, { serial: InteractiveConsole; gone: AbortController }>();
  app.route<{ Params: { node: string } }>({
    method: 'GET',
    url: '/v0/node/:node/console/ws',
    schema: {
      operationId: 'nodeOpenConsole',
      summary: 'The console as a WebSocket: output as binary frames, input typed into the serial line. Not in upstream.',
      description:
        'Open with a GET carrying `Connection: Upgrade` and `Upgrade: websocket` (and HTTP Basic credentials where the server asks for them). ' +
        "A refusal (credentials, access, the node's OBM disabled) is an ordinary HTTP error before the upgrade. After `101 Switching Protocols`, " +
        "the server sends what the node prints as binary frames, and every frame the client sends is typed into the node's serial line. " +
        'A GET without the upgrade is refused with 400.',
      tags,
      params: node,
      response: { 101: { description: 'Switching Protocols: the connection is now the WebSocket', type: 'null' } },
    },
    preHandler: async (req) => {
      if (!req.ws) throw new ValidationError('Request arguments are not valid for this request: the console is a WebSocket (send Upgrade: websocket)');
      const gone = new AbortController();
      open.set(req, { serial: await s.obm.interactiveConsole(req.principal, req.params.node, gone.signal), gone });
    },
    handler: () => {
      throw new Error('unreachable: the preHandler refuses every request that is not an upgrade');
    },
    wsHandler: (socket, req) => {
      const { serial, gone } = open.get(req)!; // set by the preHandler, which refused the upgrade otherwise
      carryConsole(socket, serial, gone);
    },
  });
}

/** A console over a WebSocket: frames in are typed into the serial line, what it prints goes out; closing either end ends both. */
export function carryConsole(socket: ConsoleSocket, serial: { output: AsyncIterable<Uint8Array>; write(data: Uint8Array): void }, gone: AbortController): void {
  socket.on('message', (data: Buffer) => serial.write(data));
  socket.on('close', () => gone.abort());
  void (async () => {
    for await (const chunk of serial.output) {
      if (socket.readyState !== socket.OPEN) break;
      socket.send(chunk);
    }
    socket.close(1000, 'console closed');
  })().catch(() => socket.terminate());
}
