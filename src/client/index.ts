/** The hil client library: `import { HilClient } from 'hil/client'`. */
export { HilClient } from './client.ts';
export type { Disk, DiskAttachment, DiskSnapshot, Image, ImageDownload, ImageFile, ImagePart } from './client.ts';
export type { Attachments, Network, NetworkingAction, Networks, Node, NodeObm, Port, PowerStatus, Provisioning, StatusId, Switch, Users, WaitOptions } from './client.ts';
export { HilApiError, type ClientOptions } from './http.ts';
export type { InteractiveConsole } from './console.ts';
