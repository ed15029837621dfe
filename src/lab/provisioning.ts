/**
 * The provisioning network: a namespace cabled to the switch on an access
 * port of the provisioning VLAN, running dnsmasq (DHCP, TFTP and IPv6 router
 * advertisements) and the HTTP boot server. A node reaches it only if HIL has
 * put one of its NICs on that VLAN, which is what the lab is for.
 *
 * Traps (lab-feasibility §3): the OVS userspace datapath does not complete
 * partial checksums, so the namespace side turns TX offload off; and iPXE
 * waits ~15 s for IPv6 autoconfiguration unless something sends an RA.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROVISIONING, type LabLayout } from './layout.ts';
import { addAccessPort } from './switch.ts';
import { killRecorded, run, startDaemon } from './system.ts';

const BOOT_SERVER = fileURLToPath(new URL('./boot-server.ts', import.meta.url));

function dnsmasqConfig(layout: LabLayout): string {
  const p = layout.provisioningDir;
  const ipxeUrl = `http://${PROVISIONING.address}/boot.ipxe`;
  return [
    '# written by hil-lab; DHCP, TFTP and RAs for the provisioning network only',
    'port=0', // no DNS
    `interface=${PROVISIONING.ifname}`,
    'bind-interfaces',
    `pid-file=${join(p, 'dnsmasq.pid')}`,
    `dhcp-leasefile=${join(p, 'dnsmasq.leases')}`,
    `log-facility=${layout.dnsmasqLog}`,
    'log-dhcp',
    // dnsmasq drops privileges to a user that may not exist on this host; it
    // runs alone in the lab's namespace and only writes the lab's files.
    'user=root',
    'group=root',
    `dhcp-range=${PROVISIONING.dhcpRange[0]},${PROVISIONING.dhcpRange[1]},${PROVISIONING.netmask},1h`,
    `dhcp-range=::,constructor:${PROVISIONING.ifname},ra-only`,
    'enable-ra',
    'enable-tftp',
    `tftp-root=${layout.bootDir}`,
    // QEMU's NIC ROMs are iPXE: it identifies itself with option 175 and gets
    // the script over HTTP. Other PXE clients get the script name over TFTP,
    // which only an iPXE can run.
    'dhcp-match=set:ipxe,175',
    `dhcp-boot=tag:ipxe,${ipxeUrl}`,
    'dhcp-boot=tag:!ipxe,boot.ipxe',
    '',
  ].join('\n');
}

/** Creates the namespace's cable to the switch and starts dnsmasq and the boot server in it. */
export function startProvisioning(layout: LabLayout, nodeBinary: string): void {
  const ns = layout.provisioningNetns;
  const inNs = (...args: string[]) => run('ip', ['netns', 'exec', ns, ...args]);
  mkdirSync(layout.bootDir, { recursive: true });
  run('ip', ['link', 'add', layout.provisioningPort, 'netns', layout.switchNetns, 'type', 'veth', 'peer', 'name', PROVISIONING.ifname, 'netns', ns]);
  run('ip', ['-n', layout.switchNetns, 'link', 'set', layout.provisioningPort, 'up']);
  addAccessPort(layout, layout.provisioningPort, layout.spec.provisioningVlan);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', ns, 'addr', 'add', `${PROVISIONING.address}/${PROVISIONING.prefixLength}`, 'dev', PROVISIONING.ifname]);
  run('ip', ['-n', ns, '-6', 'addr', 'add', PROVISIONING.ipv6, 'dev', PROVISIONING.ifname, 'nodad']);
  run('ip', ['-n', ns, 'link', 'set', PROVISIONING.ifname, 'up']);
  inNs('ethtool', '-K', PROVISIONING.ifname, 'tx', 'off');

  const conf = join(layout.provisioningDir, 'dnsmasq.conf');
  writeFileSync(conf, dnsmasqConfig(layout));
  inNs('dnsmasq', `--conf-file=${conf}`); // daemonizes once it is listening, pid in pid-file
  startDaemon('ip', ['netns', 'exec', ns, nodeBinary, '--disable-warning=ExperimentalWarning', BOOT_SERVER, layout.bootDir, layout.reportsFile, PROVISIONING.address, String(PROVISIONING.httpPort), ...(layout.spec.fpblSocket ? [layout.spec.fpblSocket] : [])], {
    pidFile: join(layout.provisioningDir, 'boot-server.pid'),
    logFile: join(layout.provisioningDir, 'boot-server.log'),
  });
}

export function stopProvisioning(layout: LabLayout): void {
  for (const name of ['boot-server', 'dnsmasq']) killRecorded(join(layout.provisioningDir, `${name}.pid`), layout.spec.dir);
}
