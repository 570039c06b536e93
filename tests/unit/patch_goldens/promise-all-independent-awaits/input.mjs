async function fetchProfile(userId) {
  return { id: userId };
}

export async function fetchProfiles(userIds) {
  const profiles = [];
  for (const userId of userIds) {
    profiles.push(await fetchProfile(userId));
  }
  return profiles;
}
