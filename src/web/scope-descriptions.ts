/** What each scope lets an app do, in words a person deciding on consent understands. */
const DESCRIPTIONS: Record<string, string> = {
  read: 'See your account and the data in it',
  write: 'Create, change and delete data in your account',
  profile: 'See your username and email address',
  follow: 'Manage whom you follow',
  push: 'Send you notifications',
  admin: 'Administer the server on your behalf',
};

export function describeScope(scope: string): string {
  return DESCRIPTIONS[scope] ?? `Use the "${scope}" permission`;
}
