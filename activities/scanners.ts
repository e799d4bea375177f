import { masscanSettingsOf, type PlumConfig } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import type { Scanner, ScannerName } from '../core/scanner/contract.ts';
import type { Resolver } from '../core/scope.ts';
import { createMasscanScanner } from './masscan.ts';
import { systemResolver } from './nmap.ts';
import { createSslscanScanner } from './sslscan.ts';

/** The scanners other than nmap, by name, as ActivityDeps.scanners takes them. */
export type OtherScanners = Partial<Record<Exclude<ScannerName, 'nmap'>, Scanner>>;

/**
 * The scanners besides nmap that a runner (embedded, server worker, agent) offers, from the deployment's
 * settings: sslscan for TLS profiles (PLUM_SSLSCAN) and masscan for the scouting stage of two-stage
 * profiles (PLUM_MASSCAN and this host's PLUM_MASSCAN_* network settings). One place, so every runner
 * offers the same ones.
 */
export function configuredScanners(config: PlumConfig, opts: { log: Logger; resolve?: Resolver }): OtherScanners {
  return {
    sslscan: createSslscanScanner({ sslscanPath: config.PLUM_SSLSCAN, log: opts.log, resolve: opts.resolve ?? systemResolver }),
    masscan: createMasscanScanner({ masscanPath: config.PLUM_MASSCAN, settings: masscanSettingsOf(config), log: opts.log }),
  };
}
