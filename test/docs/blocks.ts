/**
 * How test/docs/commands.test.ts runs the shell blocks that cannot simply run
 * as they stand. A block in README.md or docs/*.md that is fenced as
 * ```sh runs verbatim, in order, in its file's session; a block fenced as
 * ```sh doc-test=NAME is handled by the entry NAME below (markdown renderers
 * show only the first word of the info string). Every entry says why, and
 * the test fails on an entry no block names, a name with no entry, and an
 * unfenced block that holds command lines.
 *
 * What an entry can say:
 * - `needs: 'lab'`: root and the lab's packages (hil-lab doctor); without
 *   them the file's session is skipped with the reason, which CI
 *   (HIL_TEST_REQUIRE_ALL) turns into a failure.
 * - `setup`: commands run first, in the same session: the state the text
 *   around the block assumes (a base HIL, an admin's environment).
 * - `rewrite`: text replaced in the block before it runs, each with why (a
 *   host name that is this session's loopback, a system directory that is
 *   the scratch directory).
 * - `commands`: rules for single commands, found by a piece of their text:
 *   `background` (a server: runs in the background until its output shows
 *   the text), `stopWhen` (runs until its output shows the text, then gets
 *   Ctrl-C and must exit 0), `refused` (cannot do its work here, see `why`:
 *   it is still sent, and must be refused with this message, which shows its
 *   arguments parsed and reached the server), `expect` (output must match),
 *   `skip` (not run; reported with the reason).
 * - `skip`: the whole block is not run; the reason is reported.
 * - `synopsis`: the block is a synopsis (placeholders, [options]), not
 *   commands: each command must exist and list every option shown in its
 *   --help.
 */

export interface CommandRule {
  /** A piece of the command's text (after rewrites) that finds it; it must match exactly one command of the block. */
  match: string;
  why?: string;
  background?: string;
  stopWhen?: string;
  refused?: RegExp;
  expect?: RegExp;
  skip?: string;
  timeoutSeconds?: number;
}

export interface SetupCommand {
  run: string;
  background?: string;
}

export interface BlockHandling {
  why: string;
  needs?: 'lab';
  setup?: Array<string | SetupCommand>;
  rewrite?: Array<{ from: string; to: string; why: string }>;
  commands?: CommandRule[];
  skip?: true;
  synopsis?: true;
}

const SERVER_READY = 'hil API server listening';

/** Every HIL the sessions start itself is a real `hil-admin serve --migrate` on SQLite in the scratch directory. */
const baseHil = (password: string): Array<string | SetupCommand> => [
  { run: `HIL_DATA_DIR=$PWD/base HIL_ADMIN_PASSWORD=${password} hil-admin serve --migrate`, background: SERVER_READY },
  `export HIL_ENDPOINT=http://127.0.0.1:5000 HIL_USERNAME=admin HIL_PASSWORD=${password}`,
];

const FASTPROV_WHY =
  'needs a node booted into the FPBL (a lab with disks and the FPBL socket, about a minute per deploy): ' +
  'test/e2e/fast-provisioning.test.ts runs deploy and reclaim --wait through the CLI on a lab; here the command is sent to this session\'s HIL, ' +
  'which has no provisioning and must refuse it';

export const BLOCKS: Record<string, BlockHandling> = {
  // README.md
  'quick-start': {
    why: 'the quick start server: the README\'s other blocks run against it, "in another terminal"',
    rewrite: [{ from: 'npm ci && ', to: '', why: 'npm ci would reinstall the checkout\'s node_modules from the registry; the session uses them as they are' }],
    commands: [{ match: 'npm start', background: SERVER_READY }],
  },
  'npm-test': { why: 'the test suite this test is part of (.ci/run runs it)', skip: true },
  demo: {
    why: 'test/e2e/lab.test.ts runs `npm run demo` as root (what sudo gives) and checks its node reported in; a second run here would add half a minute of QEMU boots',
    skip: true,
  },
  'recursive-readme': {
    why: 'a derived HIL needs a base with a project and a user for it: the quick start server is the base',
    setup: [
      'echo … | HIL_USERNAME=admin HIL_PASSWORD=change-me hil user create reseller - regular', // the block's password, "…", verbatim
      'HIL_USERNAME=admin HIL_PASSWORD=change-me hil project create reseller',
      'HIL_USERNAME=admin HIL_PASSWORD=change-me hil user project add reseller reseller',
      'HIL_USERNAME=admin HIL_PASSWORD=change-me hil node register node2 --obm mock',
      'HIL_USERNAME=admin HIL_PASSWORD=change-me hil project node add reseller node2',
    ],
    rewrite: [{ from: 'http://base:5000', to: 'http://127.0.0.1:5000', why: 'the base is the quick start server, on this session\'s loopback' }],
    commands: [
      { match: 'hil-admin serve --migrate', background: SERVER_READY },
      { match: 'hil-admin pool import', expect: /node2/ },
    ],
  },
  'fast-provisioning-readme': {
    why: 'the tour\'s tenant (alice) on the quick start server, which has no provisioning',
    setup: ['hil-admin fpbl example-image --marker runway --out .'], // the vmlinuz and initrd.img the upload names
    commands: [
      { match: '# enroll', why: FASTPROV_WHY, refused: /provisioning is not enabled/ },
      { match: 'hil project node add runway --ready', why: FASTPROV_WHY, refused: /No free node is ready/ },
      { match: 'hil node deploy node1', why: FASTPROV_WHY, refused: /provisioning is not enabled/ },
      { match: '# back into', why: FASTPROV_WHY, refused: /provisioning is not enabled/ },
    ],
  },

  // README.md and docs/headnodes.md
  'headnodes-workflow': {
    why: 'the seed workflow needs a lab, a built headnode image, a VPN and a laptop namespace: test/e2e/headnodes.test.ts runs these very commands',
    skip: true,
  },
  'headnodes-readme': {
    why: 'the same workflow, shortened: test/e2e/headnodes.test.ts runs it on a lab',
    skip: true,
  },

  // docs/lab.md
  'lab-quick-use': {
    why: 'builds and boots a lab',
    needs: 'lab',
    commands: [
      { match: 'npm start &', background: SERVER_READY, why: 'the next commands need the server to listen (a person typing them is slower)' },
      { match: 'hil-lab console lab-node1 -f', stopWhen: 'hil-lab: reported in', timeoutSeconds: 120, why: 'it follows until Ctrl-C: the session presses it once the node has booted and reported in' },
    ],
  },
  'lab-fast-provisioning': {
    why: 'builds a lab with disks that forwards /fpbl/ (the HIL of the block before registers it)',
    needs: 'lab',
    rewrite: [{ from: '/var/lib/hil/', to: '$PWD/var/lib/hil/', why: 'the session writes nothing outside its scratch directory' }],
    setup: ['mkdir -p var/lib/hil'],
  },

  // docs/recursive.md
  recursive: {
    why: 'the block starts "at the base": a base HIL with a node n1, and the reseller\'s password',
    setup: [...baseHil('base-pw'), 'hil node register n1 --obm mock', 'export RESELLER_PASSWORD=reseller-pw'],
    rewrite: [
      { from: 'http://base.example:5000', to: 'http://127.0.0.1:5000', why: 'the base runs on this session\'s loopback' },
      { from: '/var/lib/hil-derived', to: '$PWD/hil-derived', why: 'the session writes nothing outside its scratch directory' },
    ],
    commands: [
      { match: 'hil-admin serve --migrate', background: SERVER_READY },
      { match: 'hil-admin pool import', expect: /n1/ },
    ],
  },

  // docs/fast-provisioning.md
  'fast-provisioning-operator': {
    why: 'the operator of a derived HIL: a base HIL that lends node1 to the project "reseller" and has the lab\'s public network lab-provisioning, and a derived HIL (without provisioning) on it',
    setup: [
      ...baseHil('base-pw'),
      'hil project create reseller',
      'echo reseller-pw | hil user create reseller - regular',
      'hil user project add reseller reseller',
      'hil node register node1 --obm mock',
      'hil node nic register node1 eth0 52:54:00:00:00:01',
      'hil project node add reseller node1',
      'hil network create lab-provisioning admin',
      'export HIL_UPSTREAM_ENDPOINT=http://127.0.0.1:5000 HIL_UPSTREAM_USERNAME=reseller HIL_UPSTREAM_PASSWORD=reseller-pw HIL_UPSTREAM_PROJECT=reseller',
      'export HIL_LISTEN=127.0.0.1:5001 HIL_DATA_DIR=$PWD/derived',
      { run: 'HIL_ADMIN_PASSWORD=derived-pw hil-admin serve --migrate', background: SERVER_READY },
      'hil-admin pool import',
      'export HIL_ENDPOINT=http://127.0.0.1:5001 HIL_PASSWORD=derived-pw',
    ],
    commands: [{ match: 'hil node reclaim node1 --wait', why: FASTPROV_WHY, refused: /provisioning is not enabled/ }],
  },
  'fast-provisioning-tenant': {
    why: 'the tenant cust-a on the derived HIL of the block before',
    setup: ['hil project create cust-a', 'hil-admin fpbl example-image --marker cust-a --out .'],
    commands: [
      { match: 'hil project node add cust-a --ready', why: FASTPROV_WHY, refused: /No free node is ready/ },
      { match: 'hil node deploy node1', why: FASTPROV_WHY, refused: /provisioning is not enabled/ },
      { match: 'hil node reclaim node1 --wait', why: FASTPROV_WHY, refused: /provisioning is not enabled/ },
      { match: 'hil project node remove cust-a node1', why: 'node1 never joined cust-a here (that took the deploy above)', refused: /not in project|does not own|ProjectMismatch|not .*cust-a/ },
    ],
  },
  'fast-provisioning-disk': {
    why: 'the tenant of the block before; test/e2e/diskless-kexec.test.ts runs these commands on a derived HIL with boot networks and real QEMU nodes',
    commands: [
      { match: 'hil node deploy node1 golden --disk web1-root --wait', why: FASTPROV_WHY, refused: /provisioning is not enabled/ },
      { match: 'hil node reclaim node1 --keep-disk --wait', why: FASTPROV_WHY, refused: /provisioning is not enabled/ },
    ],
  },
  'diskless-ipxe': {
    why: 'a HIL with a node1 (mock BMC) and no [exports.boot]: the boot disk is refused as not configured, the BMC calls run. ' +
      'test/e2e/diskless-boot.test.ts runs these three commands with boot networks and boots two lab nodes by them',
    setup: [...baseHil('admin-pw'), 'hil node register node1 --obm mock', 'hil node obm enable node1'],
    commands: [{ match: 'hil node boot-disk set node1 web1-root --wait', refused: /not configured on this HIL \(\[exports\.boot\]\)/ }],
  },
  'return-agent': {
    why: 'runs inside a customer\'s OS booted by the FPBL, not on HIL\'s host: test/fpbl/agent.test.ts boots an image that runs it and checks its kexec back',
    skip: true,
  },

  // docs/switches.md
  'switches-register': {
    why: 'registers the two switches on a HIL of its own (registering dials no switch)',
    setup: baseHil('admin-pw'),
  },
  'switches-verify': {
    why: 'verify dials every registered switch: the block before registered the host\'s own OVS and a remote address, which no test may touch. ' +
      'It runs here against a HIL with no switch; test/network/verify.test.ts runs verify and --fix against a test OVS',
    setup: ['export HIL_DATA_DIR=$PWD/no-switches', 'hil-admin db migrate'],
    commands: [{ match: '--switch sw0 --fix', refused: /sw0/ }],
  },

  // docs/images.md
  'image-synopsis': { why: 'the synopsis of the image commands', synopsis: true },

  // docs/auth.md
  'keystone-cli': {
    why: 'no Keystone listens in this session: the CLI must take the OpenStack variables and go to the Keystone they name. ' +
      'test/cli/keystone-clients.test.ts runs the CLI with the OpenStack variables and with HIL_TOKEN against a real Keystone',
    rewrite: [
      { from: 'https://hil.example:5000', to: 'http://127.0.0.1:5000', why: "the session's loopback stands for the HIL server" },
      { from: 'https://keystone.example:5000/v3', to: 'http://127.0.0.1:9/v3', why: 'a loopback port where nothing listens stands for the Keystone' },
    ],
    commands: [{ match: 'hil project node list runway', refused: /cannot reach Keystone at http:\/\/127\.0\.0\.1:9\/v3/ }],
  },
};
