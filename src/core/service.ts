/** The base of every use-case class: what the use-cases need, handed over once by the assembly. */
import type { CoreDeps } from './context.ts';

export abstract class Service {
  protected readonly deps: CoreDeps;

  constructor(deps: CoreDeps) {
    this.deps = deps;
  }
}
