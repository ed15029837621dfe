/** The image registry (docs/images.md; not in upstream): /v0/image/<image>. */
import { Type } from 'typebox';
import { Args, Nullable } from './common.ts';

/** The files of an image, by the name used in /v0/image/<image>/<part>. */
export const IMAGE_PARTS = ['kernel', 'initrd', 'rootfs', 'disk'] as const;

/** project: one of the caller's, or "admin" (the default; admins only); public: admins only; cmdline: one line; format: kexec (default), qcow2 or raw. */
export const CreateImageBody = Args({
  project: Type.Optional(Type.String()),
  public: Type.Optional(Type.Boolean()),
  cmdline: Type.Optional(Type.String()),
  format: Type.Optional(Type.String({ description: 'kexec (the default: kernel, initrd, rootfs), qcow2 or raw (a disk image)' })),
});

/** Admins: a file the server can read becomes the image's disk. */
export const ImportDiskBody = Args({ path: Type.String({ description: 'an absolute path on the server' }) });

export const ImagePartView = Type.Object({ sha256: Type.String({ description: 'SHA-256 of the file, 64 lowercase hex digits' }), size: Type.Integer({ description: 'bytes' }) });

export const ImageView = Type.Object({
  name: Type.String(),
  project: Type.String({ description: 'the owner project, or "admin"' }),
  public: Type.Boolean(),
  cmdline: Type.String(),
  format: Type.String({ description: 'kexec, qcow2 or raw' }),
  kernel: Nullable(ImagePartView),
  initrd: Nullable(ImagePartView),
  rootfs: Nullable(ImagePartView),
  disk: Nullable(ImagePartView),
  virtual_size: Nullable(Type.Integer({ description: "a disk image's size as a node sees it, bytes" })),
  state: Type.String({ description: 'ready; pending: a snapshot being taken (error: why its last try failed)' }),
  error: Nullable(Type.String()),
  parent: Nullable(Type.String({ description: 'a snapshot: the image it sits on' })),
  snapshot_of: Nullable(Type.String({ description: 'a snapshot: the disk it still depends on' })),
  progress: Nullable(Type.Number({ description: "a snapshot's separation from its disk, 0 to 1" })),
});

export const ImageList = Type.Array(Type.String());
