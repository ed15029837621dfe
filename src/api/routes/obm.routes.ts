import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import { Delegated } from '../../core/obm.service.ts';
import { route } from '../route.ts';
import { Args, NoArgs, Path } from '../schemas.ts';
import type { Services } from '../services.ts';

export function obmRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['obm'];
  const node = Path('node');
  const redirectNote = ' For obmd-managed nodes the answer is a 307 to obmd.';

  route(
    app,
    { method: 'PUT', url: '/v0/node/:node/obm', summary: "Enable or disable the node's OBM (disabling cuts the console).", tags, params: node, body: Args({ enabled: Type.Boolean() }) },
    (req) => s.obm.setEnabled(req.principal, req.params.node, req.body.enabled),
  );
  route(
    app,
    { method: 'POST', url: '/v0/node/:node/power_cycle', summary: 'Power-cycle the node (force: hard reset).' + redirectNote, tags, params: node, body: Args({ force: Type.Optional(Type.Boolean()) }) },
    (req) => s.obm.power(req.principal, req.params.node, 'power_cycle', req.body.force ?? false),
  );
  route(app, { method: 'POST', url: '/v0/node/:node/power_on', summary: 'Power the node on.' + redirectNote, tags, params: node, body: NoArgs }, (req) =>
    s.obm.power(req.principal, req.params.node, 'power_on'),
  );
  route(app, { method: 'POST', url: '/v0/node/:node/power_off', summary: 'Power the node off.' + redirectNote, tags, params: node, body: NoArgs }, (req) =>
    s.obm.power(req.principal, req.params.node, 'power_off'),
  );
  route(
    app,
    {
      method: 'PUT',
      url: '/v0/node/:node/boot_device',
      summary: 'Set the boot device: pxe, disk or none; for every boot (default) or, with "persistent": false (not in upstream), the next one only.' + redirectNote,
      tags,
      params: node,
      body: Args({ bootdev: Type.String(), persistent: Type.Optional(Type.Boolean()) }),
    },
    (req) => s.obm.setBootDevice(req.principal, req.params.node, req.body.bootdev, req.body.persistent ?? true),
  );
  route(
    app,
    {
      method: 'GET',
      url: '/v0/node/:node/power_status',
      summary: 'The power state: on, off or unknown.' + redirectNote,
      tags,
      params: node,
      response: { 200: Type.Object({ power_status: Type.String() }) },
    },
    (req) => s.obm.powerStatus(req.principal, req.params.node),
  );
  route(
    app,
    {
      method: 'GET',
      url: '/v0/node/:node/console',
      summary: 'Stream the serial console (one reader at a time; a new one displaces the old).' + redirectNote,
      tags,
      params: node,
      response: { 200: Type.String({ description: 'application/octet-stream, until either side closes' }) },
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
      summary: "The node's rolling console log (the last bytes read while its OBM was enabled, during its time in the caller's project). Not in upstream.",
      tags,
      params: node,
      response: { 200: Type.String({ description: 'application/octet-stream' }) },
    },
    async (req, reply) => reply.type('application/octet-stream').send(await s.obm.consoleLog(req.principal, req.params.node)),
  );

  // The interactive console: a WebSocket. Authentication, authorization and
  // "OBM enabled" are checked before the upgrade, so a refusal is a normal
  // HTTP error; then binary frames carry the console both ways.
  app.get(
    '/v0/node/:node/console/ws',
    {
      websocket: true,
      schema: { summary: 'The console as a WebSocket: output as binary frames, input typed into the serial line. Not in upstream.', tags, params: node },
      preHandler: async (req) => {
        const gone = new AbortController();
        const r = req as typeof req & { console?: Awaited<ReturnType<Services['obm']['interactiveConsole']>>; gone?: AbortController };
        r.console = await s.obm.interactiveConsole(req.principal, (req.params as { node: string }).node, gone.signal);
        r.gone = gone;
      },
    },
    (socket, req) => {
      const r = req as typeof req & { console: Awaited<ReturnType<Services['obm']['interactiveConsole']>>; gone: AbortController };
      socket.on('message', (data: Buffer) => r.console.write(data));
      socket.on('close', () => r.gone.abort());
      void (async () => {
        for await (const chunk of r.console.output) {
          if (socket.readyState !== socket.OPEN) break;
          socket.send(chunk);
        }
        socket.close(1000, 'console closed');
      })().catch(() => socket.terminate());
    },
  );
}
