/**
 * The client as the server's own code imports it (the CLI, the recursive
 * drivers, the lab): the hil-client package's source, in this repository at
 * packages/hil-client. `import … from 'hil/client'` resolves here too.
 */
export * from '../../packages/hil-client/src/index.ts';
