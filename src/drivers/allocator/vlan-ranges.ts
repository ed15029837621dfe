/** Parses "14,35-40, 100-900" into the VLAN numbers it names, in order. */
import { BadArgumentError } from '../../errors.ts';
export function parseVlanRanges(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',').map((p) => p.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new BadArgumentError(`${JSON.stringify(part)} is not a VLAN number or range`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 4096 || lo > hi) throw new BadArgumentError(`VLAN range ${part} must lie within 1-4096`);
    for (let v = lo; v <= hi; v++) out.push(v);
  }
  return out;
}
