/** True while a process with this pid exists (signal 0 only checks; a zombie not yet reaped still counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
