import type { FormValues } from '../helpers/forms.js';

export const validApp = (overrides: FormValues = {}): FormValues => ({
  name: 'Photo Sync',
  description: 'Backs up photos',
  website: 'https://photosync.example',
  redirect_uris: 'https://photosync.example/callback\nhttp://127.0.0.1:8080/cb',
  scopes: ['read', 'write'],
  grant_types: ['authorization_code', 'refresh_token'],
  client_type: 'confidential',
  ...overrides,
});
