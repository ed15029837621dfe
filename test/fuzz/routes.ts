/**
 * The routes the fuzz test drives, read from the server's own
 * GET /openapi.json: method, path template, path and query parameters, the
 * body's media type and JSON Schema, and the statuses it documents.
 */
export type JsonSchema = Record<string, any>;

export interface Operation {
  method: string;
  /** OpenAPI path template, e.g. /v0/node/{node}/nic/{nic}. */
  template: string;
  pathParams: string[];
  queryParams: Array<{ name: string; schema: JsonSchema; required: boolean }>;
  /** undefined: the route takes no body (a GET). */
  body?: { mediaType: string; schema: JsonSchema };
  /** The statuses its `responses` list. */
  statuses: Set<number>;
}

export function operationsOf(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [template, methods] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      const params: any[] = op.parameters ?? [];
      const content = op.requestBody?.content as Record<string, { schema: JsonSchema }> | undefined;
      const mediaType = content && Object.keys(content)[0];
      ops.push({
        method: method.toUpperCase(),
        template,
        pathParams: [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
        queryParams: params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema ?? {}, required: Boolean(p.required) })),
        body: mediaType ? { mediaType, schema: content[mediaType]!.schema } : undefined,
        statuses: new Set(Object.keys(op.responses ?? {}).map(Number)),
      });
    }
  }
  return ops;
}
