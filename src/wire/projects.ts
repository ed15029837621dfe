/** Projects and the nodes they hold: /v0/project/<project>. */
import { Type } from 'typebox';
import { Args, Empty } from './common.ts';

/** Either upstream's {"node"} or {"ready": true} (not in upstream: any free node that waits in its FPBL). */
export const ConnectNodeBody = Type.Union([Args({ node: Type.String() }), Args({ ready: Type.Literal(true) })]);

/** Empty for {"node"}; the node taken for {"ready": true}. */
export const ConnectNodeAnswer = Type.Union([Empty, Type.Object({ node: Type.String() })]);

export const DetachNodeBody = Args({ node: Type.String() });
