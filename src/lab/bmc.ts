/**
 * A lab node's BMC: OpenIPMI's ipmi_sim on 127.0.0.1, an IPMI 2.0 (lanplus)
 * endpoint whose chassis commands run the node's chassis control and whose
 * Serial-over-LAN connects to the node's serial port. HIL drives it with its
 * `ipmi` OBM driver, exactly as it would a server's BMC.
 *
 * The configuration files hold the BMC password, so they are written 0600.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killRecorded, sleepSync, startDaemon } from './system.ts';

export interface IpmiSimConfig {
  name: string;
  port: number;
  /** 32 hex digits. */
  guid: string;
  /** The command line ipmi_sim runs with "get …" / "set …" appended. */
  chassisControl: string;
  /** Where SOL connects: "telnet:HOST:PORT" or "tcp:HOST:PORT". */
  sol: string;
  user: string;
  password: string;
}

/** ipmi_sim's lan.conf: one LAN channel on loopback, one admin user, chassis control and SOL. */
export function ipmiSimLanConf(c: IpmiSimConfig): string {
  const auths = 'none md2 md5 straight';
  return `name "${c.name}"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${c.port}
    priv_limit admin
    allowed_auths_callback ${auths}
    allowed_auths_user ${auths}
    allowed_auths_operator ${auths}
    allowed_auths_admin ${auths}
    guid ${c.guid}
  endlan
  chassis_control "${c.chassisControl}"
  sol "${c.sol}" 115200
  user 2 true "${c.user}" "${c.password}" admin 10 ${auths}
`;
}

/** ipmi_sim's emulator commands: a BMC at 0x20 with a SEL, nothing else. */
export const IPMI_SIM_EMU = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
`;

/** Answers `mc info` over lanplus, with the password in the environment. */
export function bmcAnswers(port: number, user: string, password: string): boolean {
  const r = spawnSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-N', '1', '-R', '1', '-H', '127.0.0.1', '-p', String(port), '-U', user, '-E', 'mc', 'info'], {
    env: { ...process.env, IPMI_PASSWORD: password },
    stdio: 'ignore',
    timeout: 5000,
  });
  return r.status === 0;
}

/** Writes the node's BMC configuration into `dir`, starts ipmi_sim, and waits until it answers. */
export function startBmc(dir: string, c: IpmiSimConfig): void {
  writeFileSync(join(dir, 'lan.conf'), ipmiSimLanConf(c), { mode: 0o600 });
  writeFileSync(join(dir, 'bmc.emu'), IPMI_SIM_EMU);
  startDaemon('ipmi_sim', ['-n', '-c', join(dir, 'lan.conf'), '-f', join(dir, 'bmc.emu'), '-s', dir], {
    pidFile: join(dir, 'ipmi_sim.pid'),
    logFile: join(dir, 'ipmi_sim.log'),
    cwd: dir,
  });
  const deadline = Date.now() + 10_000;
  while (!bmcAnswers(c.port, c.user, c.password)) {
    if (Date.now() > deadline) throw new Error(`the BMC of ${c.name} did not answer on 127.0.0.1:${c.port} (see ${join(dir, 'ipmi_sim.log')})`);
    sleepSync(50);
  }
}

export function stopBmc(dir: string, labDir: string): void {
  killRecorded(join(dir, 'ipmi_sim.pid'), labDir);
}
