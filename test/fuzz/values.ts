/**
 * The strings the fuzz test puts in paths and bodies: names from the world
 * (NAMES), values that mean something to one field (a channel, a net_id),
 * and strings that break careless code (empty, NUL, very long, unicode,
 * lone surrogates, path tricks).
 */
import fc from 'fast-check';
import { ACTORS, NAMES } from './world.ts';

const ACTOR_NAMES = Object.values(ACTORS).map((a) => a.username);

/** Decoded strings that stress names wherever they go (a path segment, a body field, the database). */
export const TRICKY_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  'p1\u0000',
  'x'.repeat(101),
  'x'.repeat(5000),
  'ñødé',
  '💩',
  '\u202Eevil',
  '\uFFFF',
  '\uD800',
  '/',
  'a/b',
  '..',
  '.',
  '%2F',
  '%00',
  '\n',
  'a\r\nb',
  '\t',
  '"',
  "'",
  '\\',
  '<b>',
  'null',
  '__proto__',
  'constructor',
  'toString',
];

/**
 * Path segments exactly as sent (already percent-encoded, or deliberately
 * not): what an encoder would never produce.
 */
export const RAW_SEGMENTS: readonly string[] = [
  '',
  '%00',
  'a%00b',
  '%2F',
  'a%2Fb',
  '..',
  '.',
  '%2e%2e',
  '%ZZ',
  '%',
  '%A',
  '%FF',
  '%C0%AF',
  '%E2%82',
  '%ED%A0%80',
  '%20',
  '+',
  'x'.repeat(5000),
  '%25',
  '%3F',
  '%23',
];

/** encodeURIComponent, except that a lone surrogate (which it refuses) is sent as its UTF-8-ish bytes. */
export function encodeSegment(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...s].map((c) => (/[\uD800-\uDFFF]/.test(c) ? '%ED%A0%80' : encodeURIComponent(c))).join('');
  }
}

/** A path segment for a parameter: mostly a world name, sometimes a tricky string (encoded), sometimes a raw segment. */
export function pathSegment(param: string): fc.Arbitrary<string> {
  const encode = param === 'port' ? (s: string) => s.split('/').map(encodeSegment).join('/') : encodeSegment;
  return fc.oneof(
    { weight: 85, arbitrary: worldName(param).map(encode) },
    { weight: 8, arbitrary: fc.constantFrom(...TRICKY_STRINGS).map(encodeSegment) },
    { weight: 7, arbitrary: fc.constantFrom(...RAW_SEGMENTS) },
  );
}

/** A name of the world for a parameter; the callers' own user names less often than the others (changing them costs a restore). */
function worldName(param: string): fc.Arbitrary<string> {
  if (param === 'user') return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...NAMES.user!) }, { weight: 1, arbitrary: fc.constantFrom(...ACTOR_NAMES) });
  return fc.constantFrom(...(NAMES[param] ?? ['x']));
}

const tricky = fc.constantFrom(...TRICKY_STRINGS);

/** A string drawn mostly from `values`, sometimes tricky. */
function mostly(values: readonly string[], trickyWeight = 10): fc.Arbitrary<string> {
  return fc.oneof({ weight: 100 - trickyWeight, arbitrary: fc.constantFrom(...values) }, { weight: trickyWeight, arbitrary: tricky });
}

const MACS = ['52:54:00:12:34:56', 'de:ad:be:ef:00:01', '52:54:00:00:00:01', '', 'zz', '52:54:00:12:34:56:78'];

/**
 * Values for body fields and query parameters, by field name: names of the
 * world for fields that name objects, meaningful values for the rest.
 */
const FIELD_VALUES: Record<string, fc.Arbitrary<string>> = {
  node: mostly(NAMES.node!),
  nic: mostly(NAMES.nic!),
  network: mostly(NAMES.network!),
  project: mostly(NAMES.project!),
  owner: mostly([...NAMES.project!, 'admin', 'admin']),
  access: mostly([...NAMES.project!, '', '']),
  net_id: mostly(['', '', '', '', '100', '101', '40', '47', '4094', '4095', '4096', '0', '-1', '1e3', ' 100', 'abc', '99999999999999999999']),
  channel: mostly(['vlan/native', 'vlan/native', 'vlan/40', 'vlan/100', 'vlan/4095', 'vlan/0', 'vlan/', '', 'VLAN/NATIVE', 'vlan/native/']),
  bootdev: mostly(['pxe', 'disk', 'none', 'cdrom', '']),
  macaddr: mostly(MACS),
  password: mostly(['pw', 'secret', 'new-password']),
  image: mostly(NAMES.image!),
  switch: mostly(NAMES.switch!),
  cmdline: mostly(['console=ttyS0', '', 'quiet splash']),
  hostname: mostly(['sw.example', 'localhost', '']),
  username: mostly(['admin', '']),
  host: mostly(['bmc.invalid', '']),
  user: mostly(['root', '']),
  uri: mostly(['http://obmd.invalid/node/n1', 'https://obmd.invalid', 'ftp://x', '']),
  admin_token: mostly(['token', '']),
  ovs_bridge: mostly(['br-fuzz', '']),
};

const otherString = fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 12 }) }, { weight: 1, arbitrary: tricky });

export function stringFor(field: string | undefined): fc.Arbitrary<string> {
  return (field !== undefined && FIELD_VALUES[field]) || otherString;
}

/** Keys for objects whose keys are free (metadata, deploy networks). */
export function keyFor(field: string | undefined): fc.Arbitrary<string> {
  if (field === 'networks') return mostly(NAMES.nic!);
  if (field === 'metadata') return mostly(NAMES.label!);
  return otherString;
}

/**
 * Very deep nesting, which JSON.stringify in this process should not have
 * to build: a marker string in the value, replaced in the body text by
 * `depth` nested arrays (deepJson).
 */
export const deepMarker: fc.Arbitrary<string> = fc.constantFrom(100, 1000, 5000, 20000).map((depth) => `\u0001deep:${depth}\u0001`);

/** A JSON text with every deep marker expanded into its nested arrays. */
export function deepJson(text: string): string {
  return text.replace(/"\\u0001deep:(\d+)\\u0001"/g, (_, depth) => '['.repeat(Number(depth)) + ']'.repeat(Number(depth)));
}
