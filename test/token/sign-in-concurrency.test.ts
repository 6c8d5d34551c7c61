import { beforeAll, describe, expect, it } from 'vitest';
import { countedAddress } from '../../src/accounts/address.js';
import { passwordChecks } from '../../src/accounts/hashing-limiter.js';
import { signInKeys, THROTTLE_POLICY } from '../../src/accounts/throttle.js';
import { addSeconds } from '../../src/clock.js';
import { metrics } from '../../src/metrics.js';
import { countAttempt, forgiveAttempt, isRefused } from '../../src/store/login-attempts.js';
import { useTestContext } from '../helpers/app.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { cookiesFrom, form } from '../helpers/forms.js';
import { field } from '../helpers/html.js';

/** Concurrent sign-ins, as a burst of real requests through the app. */
const t = useTestContext();
let client: Awaited<ReturnType<typeof makeClient>>;
beforeAll(async () => {
  client = await makeClient(t, { grantTypes: ['password'] });
});

let net = 0;
/** Each test guesses from addresses of its own. */
const newAddress = () => `198.51.${100 + ++net}.1`;

const verifications = async () => (await metrics.passwordVerifications.get()).values[0]?.value ?? 0;

const grant = (username: string, password: string, ip: string) =>
  t.app.inject({
    method: 'POST',
    url: '/oauth/token',
    remoteAddress: ip,
    ...form({ grant_type: 'password', username, password }),
    headers: { ...form({}).headers, authorization: basic(client.client_id, client.secret) },
  });

const statuses = (rs: Array<{ statusCode: number }>) => rs.map((r) => r.statusCode).join(',');

describe('a burst of wrong passwords for one account', () => {
  it('through the password grant: at most the allowance is verified, the rest are refused with 429', async () => {
    const user = await makeUser(t);
    const ip = newAddress();
    const before = await verifications();
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => grant(user.username, `wrong ${i}`, ip)));
    const verified = (await verifications()) - before;
    expect(results.every((r) => r.statusCode === 400 || r.statusCode === 429), statuses(results)).toBe(true);
    expect(verified).toBeGreaterThan(0);
    expect(verified).toBeLessThanOrEqual(THROTTLE_POLICY.accountFreeFailures);
    expect(results.filter((r) => r.statusCode === 400)).toHaveLength(verified);
    for (const r of results.filter((x) => x.statusCode === 429)) {
      expect(r.json().error).toBe('rate_limited');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    // The owner, elsewhere, is not kept out by the burst.
    expect((await grant(user.username, user.password, newAddress())).statusCode).toBe(200);
  });

  it('through POST /login: at most the allowance is verified', async () => {
    const user = await makeUser(t);
    const ip = newAddress();
    const page = await t.app.inject({ method: 'GET', url: '/login', remoteAddress: ip });
    const cookie = cookiesFrom(page.headers['set-cookie']);
    const csrf = field(page.body, '_csrf')!;
    const before = await verifications();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => {
        const body = form({ _csrf: csrf, username: user.username, password: `wrong ${i}`, return_to: '/' });
        return t.app.inject({ method: 'POST', url: '/login', remoteAddress: ip, ...body, headers: { ...body.headers, cookie } });
      }),
    );
    const verified = (await verifications()) - before;
    expect(results.every((r) => r.statusCode === 401 || r.statusCode === 429), statuses(results)).toBe(true);
    expect(verified).toBeGreaterThan(0);
    expect(verified).toBeLessThanOrEqual(THROTTLE_POLICY.accountFreeFailures);
  });

  it('the count and the decision are one statement: concurrent attempts on one key let exactly the allowance through', async () => {
    const now = t.clock.now();
    const rule = { now, windowStart: addSeconds(now, -60), free: 5, firstBlockSeconds: 30, maxBlockSeconds: 900 };
    const counts = await Promise.all(Array.from({ length: 40 }, () => countAttempt(t.db, `test:burst:${net}`, rule)));
    expect(counts.filter((c) => !isRefused(c, rule.free))).toHaveLength(rule.free);
  });
});

describe('forgiveness', () => {
  it('a right password takes back its attempt: this address\'s failures on the account are forgotten, the wider counters lose one', async () => {
    const user = await makeUser(t, { username: `o.k+name@x-y_${++net}`, password: 'the right password here' });
    const ip = `2001:db8:${net}::1`;
    for (let i = 0; i < 3; i++) expect((await grant(user.username, 'a wrong password', ip)).statusCode).toBe(400);
    const keys = signInKeys({ username: user.username, ip });
    expect(await failures(keys.accountFromAddress)).toBe(3);
    expect((await grant(user.username, 'the right password here', ip)).statusCode).toBe(200);
    expect(await failures(keys.accountFromAddress)).toBeUndefined();
    expect(await failures(keys.address)).toBe(3);
    expect(await failures(keys.account)).toBe(3);
  });

  it('keys that need quoting in an array parameter (quotes, backslashes, braces, commas, spaces) are matched exactly', async () => {
    const now = t.clock.now();
    const rule = { now, windowStart: addSeconds(now, -60), free: 5, firstBlockSeconds: 30, maxBlockSeconds: 900 };
    const clear = `test:"q\\b{c},d e${++net}`;
    const uncount = `test:"q\\b{c},d e${net}:other`;
    const bystander = `test:"q\\b{c}`;
    for (const key of [clear, clear, uncount, uncount, bystander]) await countAttempt(t.db, key, rule);
    await forgiveAttempt(t.db, now, { clear: [clear], uncount: [uncount] });
    expect(await failures(clear)).toBeUndefined();
    expect(await failures(uncount)).toBe(1);
    expect(await failures(bystander)).toBe(1);
  });
});

const failures = async (key: string) => (await t.db.selectFrom('login_attempts').select('failures').where('key', '=', key).executeTakeFirst())?.failures;

describe('a burst from one address', () => {
  it('does not hold up a sign-in from another address: it is served while the burst is still being checked', async () => {
    const user = await makeUser(t);
    const flooder = newAddress();
    const finished: Array<{ who: 'burst' | 'owner'; status: number }> = [];
    const track = (who: 'burst' | 'owner', p: Promise<{ statusCode: number }>) =>
      p.then((r) => {
        finished.push({ who, status: r.statusCode });
        return r;
      });
    // Different usernames, so only the address's share of hashing holds the burst back.
    const burst = Array.from({ length: 40 }, (_, i) => track('burst', grant(`flood-${net}-${i}`, 'wrong password', flooder)));
    const owner = await track('owner', grant(user.username, user.password, newAddress()));
    await Promise.all(burst);
    expect(owner.statusCode).toBe(200);

    const verifiedBurst = finished.filter((f) => f.who === 'burst' && f.status === 400);
    const verifiedBeforeOwner = finished.slice(0, finished.findIndex((f) => f.who === 'owner')).filter((f) => f.who === 'burst' && f.status === 400);
    const { perAddress, queuedPerAddress } = passwordChecks.limits;
    expect(finished.every((f) => f.who === 'owner' || f.status === 400 || f.status === 429), JSON.stringify(finished)).toBe(true);
    // The flooder's checks run one at a time beside the owner's, so few of them can end before the owner is answered
    // (unbounded, the owner's check would queue behind the whole burst)...
    expect(verifiedBeforeOwner.length).toBeLessThanOrEqual(perAddress + queuedPerAddress);
    // ...and it was answered while the flooder's checks were still going on.
    expect(verifiedBeforeOwner.length).toBeLessThan(verifiedBurst.length);
  });
});

describe('counters stay bounded', () => {
  it('guesses at random usernames from one address create counters only up to that address\'s allowance', async () => {
    const ip = newAddress();
    for (let i = 0; i < THROTTLE_POLICY.addressFreeFailures * 2; i++) await grant(`random-${net}-${i}`, 'wrong password', ip);
    const rows = await t.db.selectFrom('login_attempts').select('key').where('key', 'like', `%|ip:${ip}`).execute();
    expect(rows).toHaveLength(THROTTLE_POLICY.addressFreeFailures);
    const accounts = await t.db.selectFrom('login_attempts').select('key').where('key', 'like', `user:random-${net}-%`).execute();
    expect(accounts.filter((r) => !r.key.includes('|'))).toHaveLength(THROTTLE_POLICY.addressFreeFailures);
  });
});

describe('counted addresses', () => {
  it('counts IPv6 clients by their /64 and IPv4 ones (also IPv4-mapped) by their address', () => {
    expect(countedAddress('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(countedAddress('2001:db8:1:2::99')).toBe('2001:db8:1:2::/64');
    expect(countedAddress('2001:0db8:0001:0002:ffff::1%eth0')).toBe('2001:db8:1:2::/64');
    expect(countedAddress('::1')).toBe('0:0:0:0::/64');
    expect(countedAddress('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(countedAddress('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(countedAddress('192.0.2.7')).toBe('192.0.2.7');
  });

  it('another address in the same IPv6 /64 does not escape the per-account count', async () => {
    const user = await makeUser(t);
    for (let i = 0; i < THROTTLE_POLICY.accountFreeFailures; i++) {
      expect((await grant(user.username, 'wrong password', `2001:db8:aa:1::${i + 1}`)).statusCode).toBe(400);
    }
    expect((await grant(user.username, user.password, '2001:db8:aa:1::ffff')).statusCode).toBe(429);
    expect((await grant(user.username, user.password, '2001:db8:aa:2::1')).statusCode).toBe(200);
  });
});
