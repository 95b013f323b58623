/**
 * The storage caps (`batches.max_files_per_account`, `max_file_bytes_per_account`,
 * `max_file_bytes_per_org`) held for uploads in flight together: each upload counts its file, and
 * its bytes as they arrive, against its account and organisation, so that uploads sent at once
 * cannot pass a cap together (each read what was stored before any of them was). On this node:
 * nodes sharing PostgreSQL may each let in what one node would.
 *
 * What a cap sees for an upload is what the store held when the upload started, plus what the
 * uploads in flight hold, plus what uploads stored since it started (its read did not see them).
 */

/** A capped subject (an account or an organisation) as an upload reads it from the store. */
export interface Cap {
  key: string;
  /** Most bytes; most files (null: not capped). */
  bytes: number;
  files: number | null;
  held: { files: number; bytes: number };
  refuse: { files(held: number): Error; bytes(held: number): Error };
}

interface Subject {
  /** Files and bytes of the uploads in flight. */
  files: number;
  bytes: number;
  /** Uploads stored while others were in flight, by the room's epoch they were stored at. */
  stored: { epoch: number; bytes: number }[];
  active: Set<Upload>;
}

export class UploadRoom {
  private readonly subjects = new Map<string, Subject>();
  /** Bumped by each upload stored: one started earlier (its read of the store before it) counts it. */
  private epoch = 0;

  /** An upload begins, before its subjects' holdings are read from the store. */
  start(keys: string[]): Upload {
    const upload = new Upload(this, keys, this.epoch);
    for (const k of keys) {
      let s = this.subjects.get(k);
      if (!s) { s = { files: 0, bytes: 0, stored: [], active: new Set() }; this.subjects.set(k, s); }
      s.active.add(upload);
    }
    return upload;
  }

  /** What the subject of `cap` holds for `upload`: stored when it started, in flight, and stored since. */
  held(upload: Upload, cap: Cap): { files: number; bytes: number } {
    const s = this.subjects.get(cap.key)!;
    let files = cap.held.files + s.files;
    let bytes = cap.held.bytes + s.bytes;
    for (const st of s.stored) if (st.epoch > upload.since) { files++; bytes += st.bytes; }
    return { files, bytes };
  }

  count(upload: Upload, files: number, bytes: number): void {
    for (const k of upload.keys) { const s = this.subjects.get(k)!; s.files += files; s.bytes += bytes; }
  }

  end(upload: Upload, stored: boolean): void {
    if (stored) this.epoch++;
    for (const k of upload.keys) {
      const s = this.subjects.get(k)!;
      s.files -= upload.files;
      s.bytes -= upload.bytes;
      s.active.delete(upload);
      if (s.active.size === 0) { this.subjects.delete(k); continue; }
      if (stored) s.stored.push({ epoch: this.epoch, bytes: upload.bytes });
      // What was stored before every upload in flight started is in what each read.
      let oldest = Infinity;
      for (const u of s.active) oldest = Math.min(oldest, u.since);
      s.stored = s.stored.filter((st) => st.epoch > oldest);
    }
  }
}

export class Upload {
  files = 0;
  bytes = 0;
  private caps: Cap[] = [];
  private ended = false;
  constructor(private readonly room: UploadRoom, readonly keys: string[], readonly since: number) {}

  /** With what the store held: throws the refusal when no file more fits; else the file is counted. */
  admit(caps: Cap[]): void {
    this.caps = caps;
    for (const c of caps) {
      const held = this.room.held(this, c);
      if (c.files !== null && held.files >= c.files) throw c.refuse.files(held.files);
      if (held.bytes >= c.bytes) throw c.refuse.bytes(held.bytes);
    }
    this.room.count(this, 1, 0);
    this.files = 1;
  }

  /** The content, counted against the caps as it arrives: the refusal of the first cap it would pass. */
  async *counted(content: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
    for await (const part of content) {
      for (const c of this.caps) {
        const held = this.room.held(this, c);
        // Its own bytes so far are not what it is told the subject holds.
        if (held.bytes + part.length > c.bytes) throw c.refuse.bytes(held.bytes - this.bytes);
      }
      this.room.count(this, 0, part.length);
      this.bytes += part.length;
      yield part;
    }
  }

  /** Stored (counted by uploads started before, until they end), or not (its room given back). Once. */
  end(stored: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.room.end(this, stored);
  }
}
