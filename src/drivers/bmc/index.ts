/** The built-in BMC drivers this server knows, by their registration `type`. */
import { BadArgumentError } from '../../errors.ts';
import type { ObmDriver } from './interface.ts';

export class ObmRegistry {
  readonly #byType = new Map<string, ObmDriver>();

  constructor(drivers: ObmDriver[]) {
    for (const d of drivers) this.#byType.set(d.type, d);
  }

  resolve(type: string): ObmDriver {
    const d = this.#byType.get(type);
    if (!d) {
      const known = [...this.#byType.keys()].join(', ');
      throw new BadArgumentError(`${JSON.stringify(type)} is not a known OBM type (known: ${known}).`);
    }
    return d;
  }

  types(): string[] {
    return [...this.#byType.keys()];
  }
}
