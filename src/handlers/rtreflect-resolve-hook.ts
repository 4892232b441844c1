/**
 * A module resolve hook (node:module register()): in an operator's handler
 * module, `import ... from 'rtreflect'` means the rtreflect that runs it, so a
 * module in /etc/rtreflect can use the helpers rtreflect exports without an
 * rtreflect installed beside it, and always gets the version it runs under.
 */
import type { InitializeHook, ResolveHook } from 'node:module';

let selfUrl: string | undefined;

export const initialize: InitializeHook<{ url: string }> = (data) => {
  selfUrl = data.url;
};

export const resolve: ResolveHook = (specifier, context, next) => {
  if (specifier === 'rtreflect' && selfUrl) return { url: selfUrl, shortCircuit: true };
  return next(specifier, context);
};
