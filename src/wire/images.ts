/** The image registry (docs/images.md; not in upstream): /v0/image/<image>. */
import { Type } from 'typebox';
import { Args, Nullable } from './common.ts';

/** The files of an image, by the name used in /v0/image/<image>/<part>. */
export const IMAGE_PARTS = ['kernel', 'initrd', 'rootfs'] as const;

/** project: one of the caller's, or "admin" (the default; admins only); public: admins only; cmdline: one line. */
export const CreateImageBody = Args({ project: Type.Optional(Type.String()), public: Type.Optional(Type.Boolean()), cmdline: Type.Optional(Type.String()) });

export const ImagePartView = Type.Object({ sha256: Type.String({ description: 'SHA-256 of the file, 64 lowercase hex digits' }), size: Type.Integer({ description: 'bytes' }) });

export const ImageView = Type.Object({
  name: Type.String(),
  project: Type.String({ description: 'the owner project, or "admin"' }),
  public: Type.Boolean(),
  cmdline: Type.String(),
  kernel: Nullable(ImagePartView),
  initrd: Nullable(ImagePartView),
  rootfs: Nullable(ImagePartView),
});

export const ImageList = Type.Array(Type.String());
