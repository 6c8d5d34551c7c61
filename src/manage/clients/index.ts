/**
 * Apps (OAuth clients): the one way the command line and the pages read and
 * change them. Every function takes who acts (src/manage/actor.ts) and checks
 * what they may do; changes record that actor in the audit log.
 */
export * from './settings.js';
export * from './transitions.js';
export * from './find.js';
export * from './change.js';
export * from './decide.js';
export * from './tokens.js';
