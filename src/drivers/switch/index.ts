/** The switch models this server knows, by upstream type URL (or its short name). */
import { BadArgumentError } from '../../errors.ts';
import { TYPE_PREFIX, type SwitchDriver } from './interface.ts';

export class SwitchRegistry {
  readonly #byType = new Map<string, SwitchDriver>();

  constructor(drivers: SwitchDriver[]) {
    for (const d of drivers) this.#byType.set(d.type, d);
  }

  /** Accepts the full type URL, or the part after the upstream prefix ("mock"). */
  resolve(type: string): SwitchDriver {
    const driver = this.#byType.get(type) ?? this.#byType.get(TYPE_PREFIX + type);
    if (!driver) throw new BadArgumentError(`${JSON.stringify(type)} is not a valid switch type.`);
    return driver;
  }

  /** For stored switches, whose type was checked at registration. */
  get(type: string): SwitchDriver | undefined {
    return this.#byType.get(type);
  }

  all(): SwitchDriver[] {
    return [...this.#byType.values()];
  }
}
