/** A node's BMC: enabling it, power, boot device (consoles are byte streams, no schemas). */
import { Type } from 'typebox';
import { Args } from './common.ts';

export const SetObmBody = Args({ enabled: Type.Boolean() });

export const PowerCycleBody = Args({ force: Type.Optional(Type.Boolean()) });

export const SetBootDeviceBody = Args({ bootdev: Type.String(), persistent: Type.Optional(Type.Boolean()) });

export const PowerStatusView = Type.Object({ power_status: Type.String() });
