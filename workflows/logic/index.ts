export * from './scan-run.ts';
export type * from './types.ts';
