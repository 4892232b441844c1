import type { z, ZodTypeDef } from 'zod';
import type { NameResolver } from '../config/name-resolver.js';
import type { HandlerContext, RouteHandler } from './api.js';

/**
 * A handler shipped with rtreflect. Its options schema is part of the config
 * schema, so option errors are reported with their config path at load time.
 * Parsing is idempotent: already-parsed options parse to themselves.
 */
export interface BuiltinHandler<O = any> {
  readonly type: string;
  optionsSchema(names: NameResolver): z.ZodType<O, ZodTypeDef, unknown>;
  create(options: O, context: HandlerContext, name: string): RouteHandler;
}
