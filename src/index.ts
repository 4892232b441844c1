/**
 * rtreflect's package API: what an operator's own handler module may import.
 * The daemon itself is the `rtreflect` command. Inside a module rtreflect
 * loads, `from 'rtreflect'` is the running rtreflect (no install needed).
 */
export * from './handlers/api.js';
export { RtreflectError, type ErrorCode } from './util/errors.js';

// The helpers the built-in handlers use.
export { parseCommunity, parseLargeCommunity, WELL_KNOWN_COMMUNITIES } from './config/bgp-formats.js';
export { PrefixMatcher, type PrefixListEntry, type PrefixAction } from './handlers/prefix-matcher.js';
export { withBgp, copyBgp } from './handlers/route-copy.js';
export { parsePrefix, formatPrefix, familyOf } from './util/ip.js';

// Testing a handler module without a daemon.
export { createTestContext, createHandler, loadModule, runHandler, testRoute, type TestContext } from './handlers/test-kit.js';

// Building an `optionsSchema`: zod, and the pieces the built-ins' schemas use.
export { z } from 'zod';
export { obj as optionsObject, prefix as prefixSchema } from './config/schema-helpers.js';
export { communitySchema, largeCommunitySchema } from './config/bgp-formats.js';
