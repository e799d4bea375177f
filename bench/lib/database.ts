import postgres from 'postgres';

/**
 * A fresh database `name` next to the admin URL's (dropped first if a previous run left it behind);
 * returns its URL, for PLUM_DATABASE_URL.
 */
export async function freshBenchDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${name}"`);
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
