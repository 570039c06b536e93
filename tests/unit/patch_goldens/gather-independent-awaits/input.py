"""Fetches every user's profile."""


async def fetch_profile(user_id: int) -> dict[str, int]:
    return {"id": user_id}


async def fetch_profiles(user_ids: list[int]) -> list[dict[str, int]]:
    profiles = []
    for user_id in user_ids:
        profiles.append(await fetch_profile(user_id))
    return profiles
