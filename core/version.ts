import pkg from '../package.json' with { type: 'json' };

/** Plum's version, from package.json: the CLI's --version, /v1/health and agents' heartbeats report it. */
export const PLUM_VERSION: string = pkg.version;
