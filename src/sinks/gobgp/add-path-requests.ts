import { putVarint, varintLen, type AddPathEncoder, type PathTemplate } from './add-path-encoder.js';

/**
 * AddPathStreamRequest messages assembled path by path: each path is written
 * straight into one growing body, so a full table costs one buffer per request
 * instead of one per path. Paths come in groups (one route's paths, begun with
 * begin()); a request is cut between groups once it holds `perRequest` paths or
 * when the VRF changes, so a group is never split and abort() can take it back.
 */
export class AddPathRequests {
  private body = Buffer.allocUnsafe(1 << 16);
  private at = 0;
  private count = 0;
  private vrf: string | undefined;
  /** Where the current group began: abort() goes back there. */
  private groupAt = 0;
  private groupCount = 0;
  private readonly out: Buffer[] = [];
  private readonly heads = new Map<string | undefined, Uint8Array>();

  constructor(
    private readonly encoder: AddPathEncoder,
    private readonly perRequest: number,
  ) {}

  /** Starts the paths of one route, into `vrf` (undefined: the global RIB). */
  begin(vrf: string | undefined): void {
    if (this.count > 0 && (this.count >= this.perRequest || vrf !== this.vrf)) this.cut();
    this.vrf = vrf;
    this.groupAt = this.at;
    this.groupCount = this.count;
  }

  /** Takes back the paths written since begin() (the route could not be encoded whole). */
  abort(): void {
    this.at = this.groupAt;
    this.count = this.groupCount;
  }

  /** One path (see AddPathEncoder.writePath). */
  path(family: 4 | 6, nlri: Uint8Array, nlriLen: number, attrs: readonly Uint8Array[], identifier: number, withdraw = false): void {
    const n = this.encoder.pathLen(family, nlriLen, attrs, identifier, withdraw);
    this.open(n);
    this.at = this.encoder.writePath(this.body, this.at, family, nlri, nlriLen, attrs, identifier, withdraw);
  }

  /** One path from a template and the NLRI that completes it (nlriLen < 128). */
  fromTemplate(t: PathTemplate, nlri: Uint8Array, nlriLen: number): void {
    const { head, tail } = t;
    this.open(head.length + 1 + nlriLen + tail.length);
    const body = this.body;
    let at = this.at;
    body.set(head, at);
    at += head.length;
    body[at++] = nlriLen;
    for (let i = 0; i < nlriLen; i++) body[at + i] = nlri[i]!;
    at += nlriLen;
    body.set(tail, at);
    this.at = at + tail.length;
  }

  /** The requests written so far; the builder starts over empty. */
  take(): Buffer[] {
    if (this.count > 0) this.cut();
    return this.out.splice(0);
  }

  /** Starts a path of n bytes: makes room, writes the field's tag and length. */
  private open(n: number): void {
    const need = this.at + varintLen(this.encoder.pathsTag) + varintLen(n) + n;
    if (need > this.body.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.body.length * 2));
      this.body.copy(bigger, 0, 0, this.at);
      this.body = bigger;
    }
    this.at = putVarint(this.body, this.at, this.encoder.pathsTag);
    this.at = putVarint(this.body, this.at, n);
    this.count++;
  }

  private cut(): void {
    let head = this.heads.get(this.vrf);
    if (head === undefined) {
      if (this.heads.size >= 64) this.heads.clear();
      this.heads.set(this.vrf, (head = this.encoder.requestHead(this.vrf)));
    }
    const req = Buffer.allocUnsafe(head.length + this.at);
    req.set(head, 0);
    this.body.copy(req, head.length, 0, this.at);
    this.out.push(req);
    this.at = this.groupAt = 0;
    this.count = this.groupCount = 0;
  }
}
