/** A headnode's serial console, as a node's (./console.routes.ts): streamed, its log, interactive over a WebSocket. */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError } from '../../errors.ts';
import { route } from '../route.ts';
import { Bytes, Path } from '../../wire/common.ts';
import type { Services } from '../services.ts';
import { carryConsole } from './console.routes.ts';

type Serial = Awaited<ReturnType<Services['headnodes']['interactiveConsole']>>;

export function headnodeConsoleRoutes(app: FastifyInstance, s: Services, tags: string[]): void {
  const hn = Path('headnode');
  route(
    app,
    { method: 'GET', url: '/v0/headnode/:headnode/console', operationId: 'headnodeConsole', summary: 'Stream what the serial console prints from now on (any number of readers). Not in upstream.', tags, params: hn, response: { 200: Bytes('application/octet-stream, until either side closes') } },
    async (req, reply) => {
      const gone = new AbortController();
      reply.raw.once('close', () => gone.abort());
      const output = await s.headnodes.console(req.principal, req.params.headnode, gone.signal);
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'application/octet-stream', 'x-request-id': req.id });
      reply.raw.flushHeaders();
      await pipeline(Readable.from(output), reply.raw).catch(() => {});
      return reply;
    },
  );
  route(
    app,
    { method: 'GET', url: '/v0/headnode/:headnode/console_log', operationId: 'headnodeConsoleLog', summary: "The last bytes of the headnode's serial console. Not in upstream.", tags, params: hn, response: { 200: Bytes() } },
    async (req, reply) => reply.type('application/octet-stream').send(await s.headnodes.consoleLog(req.principal, req.params.headnode)),
  );
  const open = new WeakMap<FastifyRequest, { serial: Serial; gone: AbortController }>();
  app.route<{ Params: { headnode: string } }>({
    method: 'GET',
    url: '/v0/headnode/:headnode/console/ws',
    schema: {
      operationId: 'headnodeOpenConsole',
      summary: "The headnode's console as a WebSocket: output as binary frames, input typed into its serial line (one session at a time). Not in upstream.",
      tags,
      params: hn,
      response: { 101: { description: 'Switching Protocols: the connection is now the WebSocket', type: 'null' } },
    },
    preHandler: async (req) => {
      if (!req.ws) throw new ValidationError('Request arguments are not valid for this request: the console is a WebSocket (send Upgrade: websocket)');
      const gone = new AbortController();
      open.set(req, { serial: await s.headnodes.interactiveConsole(req.principal, req.params.headnode, gone.signal), gone });
    },
    handler: () => {
      throw new Error('unreachable: the preHandler refuses every request that is not an upgrade');
    },
    wsHandler: (socket, req) => carryConsole(socket, open.get(req)!.serial, open.get(req)!.gone),
  });
}
