async def fetch_all(client, ids):
    results = []
    for item_id in ids:  # expect: independent-awaits-in-loop
        url = f"/items/{item_id}"
        results.append(await client.get(url))
    return results


async def chained(client, start):
    cursor = start
    pages = []
    for _ in range(10):
        page = await client.get(cursor)
        cursor = page.next
        pages.append(page)
    return pages


async def stops_early(client, ids):
    for item_id in ids:
        if await client.exists(item_id):
            return item_id
    return None


async def two_awaits(client, ids):
    for item_id in ids:
        await client.lock(item_id)
        await client.unlock(item_id)


def not_a_coroutine(ids):
    return [item_id for item_id in ids]


async def gathered(client, ids):
    import asyncio

    return await asyncio.gather(*(client.get(item_id) for item_id in ids))


async def run_hooks(hooks):
    for hook in hooks:
        await hook()
