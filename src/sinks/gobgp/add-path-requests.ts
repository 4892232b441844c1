import { putVarint, varintLen, type AddPathEncoder, type PathTemplate } from './add-path-encoder.js';

/**
 * AddPathStreamRequest messages assembled path by path: each path is written
 * straight into one growing body, and a request is cut every `perRequest` paths
 * and whenever the VRF changes. A full table then costs one buffer per request
 * instead of one per path.
 */
export class AddPathRequests {
  private body = Buffer.allocUnsafe(1 << 16);
  private at = 0;
  private count = 0;
  private vrf: string | undefined;
  private readonly out: Buffer[] = [];
  private readonly heads = new Map<string | undefined, Uint8Array>();

  constructor(private readonly encoder: AddPathEncoder, private readonly perRequest: number) {}

  /** One path (see AddPathEncoder.writePath). */
  path(vrf: string | undefined, family: 4 | 6, nlri: Uint8Array, nlriLen: number, attrs: readonly Uint8Array[], identifier: number, withdraw = false): void {
    const n = this.encoder.pathLen(family, nlriLen, attrs, identifier, withdraw);
    this.open(vrf, n);
    this.at = this.encoder.writePath(this.body, this.at, family, nlri, nlriLen, attrs, identifier, withdraw);
  }

  /** One path from a template and the NLRI that completes it (nlriLen < 128). */
  fromTemplate(vrf: string | undefined, t: PathTemplate, nlri: Uint8Array, nlriLen: number): void {
    const { head, tail } = t;
    this.open(vrf, head.length + 1 + nlriLen + tail.length);
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

  /** Starts a path of n bytes: cuts the request when it is full or of another VRF, and makes room. */
  private open(vrf: string | undefined, n: number): void {
    if (this.count > 0 && (this.count >= this.perRequest || vrf !== this.vrf)) this.cut();
    this.vrf = vrf;
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
    this.at = 0;
    this.count = 0;
  }
}
