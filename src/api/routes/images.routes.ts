/**
 * The image registry (docs/images.md; not in upstream). Files go up and come
 * down as raw bytes (application/octet-stream), streamed: never whole in
 * memory, whatever their size.
 */
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { Bytes, ErrorBody, NoArgs, Path } from '../../wire/common.ts';
import { CreateImageBody, IMAGE_PARTS, ImageList, ImagePartView, ImageView, ImportDiskBody } from '../../wire/images.ts';
import type { Services } from '../services.ts';
import { ValidationError } from '../../errors.ts';

const tags = ['images'];
const PARTS = `${IMAGE_PARTS.slice(0, -1).join(', ')} or ${IMAGE_PARTS.at(-1)}`;
const image = Path('image');
const part = Type.Object({ image: Type.String(), part: Type.String({ description: PARTS }) });

/** The upload's body as the content-type parser hands it over: the request stream itself. */
class UploadBody {
  readonly #stream: Readable;
  constructor(stream: Readable) {
    this.#stream = stream;
  }
  get stream(): Readable {
    return this.#stream;
  }
}

/** Documents (and lets through unchecked) a raw body; the service reads and bounds it. */
const OctetStream = Type.Unsafe<UploadBody>({
  // No type: the validator would check it against the request stream (the service bounds and hashes the bytes).
  content: { 'application/octet-stream': { schema: { description: 'the file, as raw bytes' } } },
});

export function imageRoutes(app: FastifyInstance, s: Services): void {
  route(
    app,
    {
      method: 'PUT',
      url: '/v0/image/:image',
      operationId: 'imageCreate',
      summary:
        'Create an empty image. project: one of the caller\'s projects, or "admin" (the default; admins only); public: visible to everyone (admins only); cmdline: the kernel command line (one line, at most 4096 characters); format: kexec (the default: kernel, initrd, rootfs), qcow2 or raw (a disk image, whose file is the part "disk"). Not in upstream.',
      tags,
      params: image,
      body: CreateImageBody,
    },
    (req) => s.images.create(req.principal, req.params.image, req.body),
  );
  route(
    app,
    { method: 'GET', url: '/v0/image/:image', operationId: 'imageShow', summary: 'Show an image the caller can see: its owner, command line and files. Not in upstream.', tags, params: image, response: { 200: ImageView } },
    (req) => s.images.show(req.principal, req.params.image),
  );
  route(
    app,
    { method: 'GET', url: '/v0/images', operationId: 'imageList', summary: "Names of the images the caller can see: its projects' and the public ones (admins: all). Not in upstream.", tags, response: { 200: ImageList } },
    (req) => s.images.list(req.principal),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/image/:image', operationId: 'imageDelete', summary: 'Delete an image that no node uses (owner project or admins). Not in upstream.', tags, params: image, body: NoArgs },
    (req) => s.images.delete(req.principal, req.params.image),
  );
  route(
    app,
    {
      method: 'GET',
      url: '/v0/image/:image/:part',
      operationId: 'imageDownload',
      summary: `Download a file of an image the caller can see (part: ${PARTS}); the ETag is its SHA-256. Not in upstream.`,
      tags,
      params: part,
      response: { 200: Bytes() },
    },
    async (req, reply) => {
      const file = await s.images.download(req.principal, req.params.image, req.params.part);
      reply.raw.once('close', () => file.stream.destroy());
      return reply
        .type('application/octet-stream')
        .header('content-length', String(file.size))
        .header('etag', `"${file.sha256}"`)
        .header('x-hil-sha256', file.sha256)
        .send(file.stream);
    },
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/image/:image/disk/import',
      operationId: 'imageImportDisk',
      summary: 'Admins: a disk image file the server can read (an absolute path on it) becomes the disk of a qcow2 or raw image, checked as an upload is. Not in upstream.',
      tags,
      params: image,
      body: ImportDiskBody,
      response: { 200: ImagePartView },
    },
    (req) => s.images.importDisk(req.principal, req.params.image, req.body.path),
  );
  // The upload gets a content-type parser of its own, in a scope of its own:
  // every other route keeps upstream's binding (a JSON body, whatever the Content-Type).
  app.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', (req, payload, done) => done(null, new UploadBody(payload as Readable)));
    uploadRoute(scope, s);
  });
}

function uploadRoute(app: FastifyInstance, s: Services): void {
  route(
    app,
    {
      method: 'PUT',
      url: '/v0/image/:image/:part',
      operationId: 'imageUpload',
      summary: `Upload a file of an image (part: ${PARTS}) as the raw body, Content-Type application/octet-stream; replaces the part unless the image is in use. At most images.max_file_mib, a disk images.max_disk_mib (else 413); a disk is checked with qemu-img (its format, consistency, no backing file) and becomes the image's base in the storage backend. Not in upstream.`,
      tags,
      params: part,
      body: OctetStream,
      response: { 200: ImagePartView, 413: ErrorBody },
    },
    async (req, reply) => {
      const body: unknown = req.body;
      try {
        if (!(body instanceof UploadBody)) throw new ValidationError('Send the file as the request body, with Content-Type: application/octet-stream.');
        const length = req.headers['content-length'];
        return await s.images.upload(req.principal, req.params.image, req.params.part, body.stream, length === undefined ? undefined : Number(length));
      } catch (err) {
        // The rest of a refused body is not worth reading: close the connection after the answer.
        if (!(body instanceof UploadBody) || !body.stream.readableEnded) reply.header('connection', 'close');
        // A client that hangs up mid-upload is not a server failure (nothing was stored).
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET') throw new ValidationError('The upload was cut short; nothing was stored.');
        throw err;
      }
    },
  );
}
