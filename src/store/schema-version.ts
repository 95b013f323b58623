/**
 * Schema versions across releases. Each component (events, identity, cases...) records in
 * `schema_migrations` the migrations it applied, and beside each version the oldest schema
 * knowledge a Warden needs to run on it (`min_reader`): the version itself, unless the migration
 * was declared compatible (older builds may keep reading and writing the tables after it), in
 * which case the previous requirement carries over. A build that finds a component newer than it
 * knows refuses to start unless every migration it lacks was declared compatible: running on a
 * schema it does not know, it would write rows the newer release then misreads. Rows written by
 * releases before `min_reader` existed have none: their version is required.
 */

/**
 * One migration: its SQL, or its SQL and `compatible: true` when a Warden that knows only the
 * migrations before it can still run correctly on the schema after it (e.g. a new index, or a new
 * table that older builds ignore and whose absence of rows the newer one handles). During a
 * rolling upgrade, only compatible migrations let an older node (re)start on the migrated schema.
 */
export type Migration = string | { sql: string; compatible: true };

export function migrationSql(m: Migration): string {
  return typeof m === 'string' ? m : m.sql;
}

/** The `min_reader` to record for version `index + 1`, given the one recorded for the version before. */
export function minReaderAfter(m: Migration, index: number, previousMinReader: number): number {
  return typeof m !== 'string' && m.compatible ? previousMinReader : index + 1;
}

/** A component's schema is newer than this Warden knows, and was not declared readable by it. */
export class SchemaTooNewError extends Error {
  readonly code = 'WARDEN_SCHEMA_TOO_NEW';
  constructor(readonly component: string, readonly stored: number, readonly known: number, readonly minReader: number) {
    super(
      `${component} schema is at version ${stored}, newer than this Warden knows (${known})` +
      (minReader < stored ? `; it needs a Warden that knows version ${minReader} or later` : '') +
      ': use a newer Warden, or restore the backup taken before the upgrade (docs/operations.md, "Upgrading and downgrading")',
    );
    this.name = 'SchemaTooNewError';
  }
}

/**
 * Throw SchemaTooNewError when the stored version is newer than the `known` migrations and this
 * build is not declared able to run on it. `minReader` null: recorded by a release that did not
 * record it, so the stored version itself is required.
 */
export function refuseNewerSchema(component: string, stored: number, minReader: number | null, known: number): void {
  if (stored <= known) return;
  const needed = minReader ?? stored;
  if (needed > known) throw new SchemaTooNewError(component, stored, known, needed);
}
