/*
 * English for counts in messages: "1 job", "2 jobs", "an operator key".
 * One helper so no message says "1 jobs" or "a operator".
 */

/** `n` and the noun, singular for exactly 1: `counted(1, 'job')` is "1 job", `counted(3, 'address', 'addresses')` "3 addresses". */
export function counted(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** The indefinite article for a word: "an operator", "a viewer". */
export function article(word: string): string {
  return /^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`;
}
