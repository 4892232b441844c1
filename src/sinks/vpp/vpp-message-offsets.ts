import { RtreflectError } from '../../util/errors.js';
import type { VppCodec } from './vpp-codec.js';
import { FieldLocator, type IntSlot } from './vpp-field-locator.js';

export interface ReplyOffsets {
  name: string;
  context: number;
  retval: number;
}
/** Where requestMany patches ids and context into a request, and reads its reply. */
export interface BatchOffsets {
  msgId: IntSlot;
  clientIndex: IntSlot;
  context: IntSlot;
  reply: ReplyOffsets;
}

/**
 * Where the client reads and patches messages it does not decode (batched requests and their
 * replies, raw dump details), worked out from the definitions once per message.
 */
export class MessageOffsets {
  private readonly locator: FieldLocator;
  private readonly batches = new Map<string, BatchOffsets>();
  private readonly contexts = new Map<string, number>();

  constructor(private readonly codec: VppCodec) {
    this.locator = new FieldLocator(codec);
  }

  /** Offset of a message's context field; throws when the definitions have no 32-bit one. */
  context(name: string): number {
    let o = this.contexts.get(name);
    if (o === undefined) {
      const c = this.locator.int(name, ['context']);
      if (c.size !== 4) throw new RtreflectError('ERR_VPP_API_DEFS', `${name}'s context is not a 32-bit field`);
      o = c.offset;
      this.contexts.set(name, o);
    }
    return o;
  }

  /** The context offset already worked out by context(), if any (a message being read raw). */
  knownContext(name: string): number | undefined {
    return this.contexts.get(name);
  }

  /** Offsets of the header fields and of the reply's context and retval. */
  batch(name: string): BatchOffsets {
    let o = this.batches.get(name);
    if (!o) {
      const L = this.locator;
      const replyName = this.codec.defs.services.get(name)?.reply ?? `${name}_reply`;
      const ctx = L.int(replyName, ['context']);
      const rv = L.int(replyName, ['retval']);
      if (rv.size !== 4 || ctx.size !== 4) throw new RtreflectError('ERR_VPP_API_DEFS', `${replyName}'s context and retval are not 32-bit fields`);
      o = {
        msgId: L.int(name, ['_vl_msg_id']),
        clientIndex: L.int(name, ['client_index']),
        context: L.int(name, ['context']),
        reply: { name: replyName, context: ctx.offset, retval: rv.offset },
      };
      this.batches.set(name, o);
    }
    return o;
  }
}
