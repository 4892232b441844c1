import { RtreflectError } from '../../util/errors.js';
import { nameCrc, type ApiDefsData } from './vpp-api-defs.js';

/** How a definition compares with what the running VPP offers. */
export type MessageStatus = { ok: true } | { ok: false; reason: 'missing' } | { ok: false; reason: 'crc'; vppCrc: string; ourCrc: string };

/**
 * Which of our messages the running VPP speaks, and under which ids. A message is usable only
 * when VPP has it with the CRC of our definitions: one of another version would be misencoded.
 */
export class MessageTable {
  /** name → CRC of every message VPP offered at the last handshake. */
  private vppCrcs = new Map<string, string>();
  /** Our messages VPP has with the same CRC: name → id, id → name. Empty while disconnected. */
  private ids = new Map<string, number>();
  private names = new Map<number, string>();

  constructor(private readonly defs: ApiDefsData) {}

  /** VPP's message table from sockclnt_create_reply (entries named `name_crc`). */
  learn(messageTable: { index: number; name: string }[]): void {
    const table = new Map<string, number>();
    this.vppCrcs = new Map();
    for (const e of messageTable) {
      table.set(e.name, e.index);
      const m = /^(.*)_([0-9a-f]{8})$/.exec(e.name);
      if (m) this.vppCrcs.set(m[1]!, m[2]!);
    }
    this.ids = new Map();
    this.names = new Map();
    for (const [name, def] of this.defs.messages) {
      const id = table.get(nameCrc(name, def.crc));
      if (id !== undefined) {
        this.ids.set(name, id);
        this.names.set(id, name);
      }
    }
  }

  /** The connection is gone: no message has an id until the next handshake. */
  forget(): void {
    this.ids = new Map();
    this.names = new Map();
  }

  /** Whether a handshake resolved any message (a session exists). */
  get resolved(): boolean {
    return this.ids.size > 0;
  }

  id(name: string): number | undefined {
    return this.ids.get(name);
  }

  name(id: number): string | undefined {
    return this.names.get(id);
  }

  has(name: string): boolean {
    return this.ids.has(name);
  }

  status(name: string): MessageStatus {
    const def = this.defs.messages.get(name);
    if (!def) return { ok: false, reason: 'missing' };
    if (this.ids.has(name)) return { ok: true };
    const vppCrc = this.vppCrcs.get(name);
    if (vppCrc === undefined) return { ok: false, reason: 'missing' };
    return { ok: false, reason: 'crc', vppCrc: `0x${vppCrc}`, ourCrc: def.crc };
  }

  /** Throws one error naming every listed message the running VPP lacks or has in another version. */
  require(names: string[]): void {
    const bad = names.filter((n) => !this.ids.has(n));
    if (bad.length) throw this.mismatch(bad);
  }

  /** The error for messages VPP lacks or has in another version, with what to fix. */
  mismatch(names: string[]): RtreflectError {
    const parts = names
      .map((n) => {
        const s = this.status(n);
        if (s.ok) return '';
        if (!this.defs.messages.has(n)) return `${n}: not in the API definitions read (apiDir)`;
        if (s.reason === 'crc') return `${n}: definitions have CRC ${s.ourCrc}, running VPP has ${s.vppCrc}`;
        return `${n}: not offered by the running VPP (older VPP, or its plugin is not loaded)`;
      })
      .filter(Boolean);
    return new RtreflectError(
      'ERR_VPP_API_MISMATCH',
      `the running VPP does not match the API definitions rtreflect read: ${parts.join('; ')}. Point apiDir at the share/vpp/api directory of the VPP that is running (the two must come from the same VPP build)`,
    );
  }
}
