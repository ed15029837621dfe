/**
 * What building a headnode image or its seed says when it cannot: a missing
 * host package, a bad seed field, an unreadable image directory. A tool's
 * error (docs/architecture.md): it does not cross into the API.
 */
export class HeadnodeImageError extends Error {}
