interface Client {
  get(url: string): Promise<string>;
}

export async function fetchAll(client: Client, ids: string[]): Promise<string[]> {
  const results: string[] = [];
  for (const id of ids) { // expect: independent-awaits-in-loop
    const url = `/items/${id}`;
    results.push(await client.get(url));
  }
  return results;
}

export async function chained(client: Client, start: string): Promise<string[]> {
  let cursor = start;
  const pages: string[] = [];
  for (let i = 0; i < 10; i++) {
    const page = await client.get(cursor);
    cursor = page;
    pages.push(page);
  }
  return pages;
}

export async function stopsEarly(client: Client, ids: string[]): Promise<string | null> {
  for (const id of ids) {
    if (await client.get(id)) {
      return id;
    }
  }
  return null;
}

export async function stream(client: Client, ids: AsyncIterable<string>): Promise<void> {
  for await (const id of ids) {
    await client.get(id);
  }
}

export function notAsync(ids: string[]): string[] {
  return ids.map((id) => id.trim());
}

export async function runHooks(hooks: Array<() => Promise<void>>): Promise<void> {
  for (const hook of hooks) {
    await hook();
  }
}
