/**
 * The implementations of one kind of driver (switch models, BMC types,
 * network allocators, auth backends), by the name they are registered or
 * configured under. Each kind's index.ts builds its catalog from one list.
 */
import { BadArgumentError } from '../errors.ts';

export class Catalog<D extends { readonly type: string }> {
  readonly #byType = new Map<string, D>();
  readonly #unknown: (name: string, known: string[]) => string;
  readonly #canonical: (name: string) => string;

  /**
   * `unknown` words the error for a name nobody implements; `canonical`
   * maps accepted short forms to the registered name (switch type URLs).
   */
  constructor(drivers: Array<D | undefined>, o: { unknown: (name: string, known: string[]) => string; canonical?: (name: string) => string }) {
    for (const d of drivers) if (d) this.#byType.set(d.type, d);
    this.#unknown = o.unknown;
    this.#canonical = o.canonical ?? ((n) => n);
  }

  /** The driver for a name an administrator gave; BadArgumentError when there is none. */
  resolve(name: string): D {
    const d = this.get(name);
    if (!d) throw new BadArgumentError(this.#unknown(name, this.types()));
    return d;
  }

  /** For names stored earlier (checked when they were registered). */
  get(name: string): D | undefined {
    return this.#byType.get(name) ?? this.#byType.get(this.#canonical(name));
  }

  all(): D[] {
    return [...this.#byType.values()];
  }

  types(): string[] {
    return [...this.#byType.keys()];
  }
}
