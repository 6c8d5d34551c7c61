import type { Config } from '../config.js';
import { addSeconds } from '../clock.js';
import type { MailMessage } from './outbox.js';

type SiteConfig = Pick<Config, 'siteName' | 'issuer'>;

/** How long a password-reset link works. */
export const PASSWORD_RESET_TTL_SECONDS = 30 * 60;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** A mail's content before layout: paragraphs of plain text, and at most one link to follow. */
interface Content {
  greeting: string;
  paragraphs: string[];
  link?: { url: string; label: string };
  footer: string;
}

function render(site: SiteConfig, content: Content): { text: string; html: string } {
  const text = [
    content.greeting,
    ...content.paragraphs,
    ...(content.link ? [content.link.url] : []),
    content.footer,
    `— ${site.siteName}`,
  ].join('\n\n');
  const p = (s: string) => `<p>${escapeHtml(s)}</p>`;
  const link = content.link
    ? `<p><a href="${escapeHtml(content.link.url)}">${escapeHtml(content.link.label)}</a></p>\n` +
      `<p style="color:#555;font-size:90%">${escapeHtml(content.link.url)}</p>`
    : '';
  const html = [
    '<!doctype html>',
    '<html><body style="font-family:sans-serif;line-height:1.5">',
    `<h1 style="font-size:120%">${escapeHtml(site.siteName)}</h1>`,
    p(content.greeting),
    ...content.paragraphs.map(p),
    link,
    `<p style="color:#555">${escapeHtml(content.footer)}</p>`,
    '</body></html>',
  ]
    .filter((s) => s !== '')
    .join('\n');
  return { text: `${text}\n`, html: `${html}\n` };
}

const linkTo = (site: SiteConfig, path: string, token: string) => `${site.issuer}${path}?token=${encodeURIComponent(token)}`;

/** The mail with a password-reset link (`/reset-password?token=…`), good for 30 minutes from `now`. */
export function passwordResetMail(site: SiteConfig, to: string, token: string, now: Date): MailMessage {
  const minutes = PASSWORD_RESET_TTL_SECONDS / 60;
  return {
    kind: 'password_reset',
    to,
    subject: `Reset your ${site.siteName} password`,
    expiresAt: addSeconds(now, PASSWORD_RESET_TTL_SECONDS),
    ...render(site, {
      greeting: 'Hello,',
      paragraphs: [
        `Someone asked to reset the password of your ${site.siteName} account. To choose a new password, open this link within ${minutes} minutes:`,
      ],
      link: { url: linkTo(site, '/reset-password', token), label: 'Choose a new password' },
      footer: 'If you did not ask for this, ignore this mail: your password stays as it is. The link works once.',
    }),
  };
}

/** The mail with an e-mail verification link (`/verify-email?token=…`); `expiresAt` when the link has one. */
export function emailVerificationMail(site: SiteConfig, to: string, token: string, expiresAt?: Date): MailMessage {
  return {
    kind: 'email_verification',
    to,
    subject: `Confirm your e-mail address for ${site.siteName}`,
    ...(expiresAt ? { expiresAt } : {}),
    ...render(site, {
      greeting: 'Hello,',
      paragraphs: [`To confirm that ${to} is your e-mail address on ${site.siteName}, open this link:`],
      link: { url: linkTo(site, '/verify-email', token), label: 'Confirm my e-mail address' },
      footer: `If you did not use this address on ${site.siteName}, ignore this mail.`,
    }),
  };
}

/** A plain notice (e.g. "your password was changed"): `body` is plain text, one paragraph per blank-line-separated block. */
export function noticeMail(site: SiteConfig, to: string, subject: string, body: string): MailMessage {
  return {
    kind: 'notice',
    to,
    subject: `${subject} (${site.siteName})`,
    ...render(site, {
      greeting: 'Hello,',
      paragraphs: body.split(/\n\s*\n/).map((s) => s.trim()).filter((s) => s !== ''),
      footer: `This is an automatic message from ${site.siteName}.`,
    }),
  };
}
