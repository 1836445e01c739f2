// The experiments table as plain data: columns, cell text, sort order, the names actions send.
// No JupyterLab imports here, so the unit tests run in plain Node. The panel sorts and filters here, in
// the browser, to stay quick at 10,000 rows; the rules are the core's TableView
// (jupyter_exp/experiments/table.py), and test/table.test.ts holds both to tests/experiments/table_rules.json.

export type RowKind = 'workspace' | 'baseline' | 'experiment' | 'checkpoint' | 'queued';
export type Value = string | number | boolean | null;

/** One row of `GET experiments`, in `ExpTable.to_json()` shape. */
export interface ExpRow {
  rev: string;
  name: string | null;
  kind: RowKind;
  baseline: string | null;
  parent: string | null;
  created: string | null;
  experiment: string;
  checkpoint_tip: string | null;
  params: Record<string, Record<string, unknown>>;
  metrics: Record<string, Record<string, unknown>>;
  error: string | null;
  best_of?: string | null; // the Optuna study whose best trial this is (`exp sweep`)
  running?: boolean; // a queued experiment a worker runs now: its metrics are the ones logged so far
}

export interface Column {
  id: string; // "Experiment", "Created", or "<kind>:<file>:<key>" (the widget's data-col)
  kind: 'info' | 'metrics' | 'params';
  file: string;
  key: string;
  label: string;
}

export interface SortState {
  column: string;
  descending: boolean;
}

export const EXPERIMENT = 'Experiment';
export const CREATED = 'Created';
export const MISSING = '-';
export const BEST_TRIAL = ' ★'; // after the best trial of a sweep's study, as the notebook widget marks it
const RESERVED = new Set([EXPERIMENT, CREATED, 'rev', 'name', 'kind']);
const GLYPHS = /^[\s│├└─╓╟╨]+/;
const REMOVABLE = new Set<RowKind>(['experiment', 'checkpoint', 'queued']);
const MINIMISED = /loss|error/i;
const PARAM = /^([+~]?)([^=\s]+)(=(.*))?$/;

/** Experiment, Created, then every metric and param in first-seen order; a key that appears in two
 * files is labelled `file:key`, as `exp show` does. */
export function columnsOf(rows: ExpRow[]): Column[] {
  const seen = new Map<string, Column>();
  for (const kind of ['metrics', 'params'] as const) {
    for (const row of rows) {
      for (const [file, values] of Object.entries(row[kind] ?? {})) {
        for (const key of Object.keys(values ?? {})) {
          const id = `${kind}:${file}:${key}`;
          if (!seen.has(id)) seen.set(id, { id, kind, file, key, label: key });
        }
      }
    }
  }
  const counts = new Map<string, number>();
  for (const col of seen.values()) counts.set(col.key, (counts.get(col.key) ?? 0) + 1);
  for (const col of seen.values()) {
    if (counts.get(col.key)! > 1 || RESERVED.has(col.key)) col.label = `${col.file}:${col.key}`;
  }
  const info = (id: string): Column => ({ id, kind: 'info', file: '', key: id, label: id });
  return [info(EXPERIMENT), info(CREATED), ...seen.values()];
}

/** The Experiment column without its tree glyph: the name, or the short sha `exp show` prints. */
export function labelOf(row: ExpRow): string {
  return row.experiment.replace(GLYPHS, '');
}

/** A list or mapping as Python's json.dumps writes it (", " and ": "), the text the kernel shows. */
function pyJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`).join(', ')}}`;
  }
  return typeof value === 'boolean' ? String(value) : JSON.stringify(value) ?? 'null';
}

function jsonValue(value: unknown): Value {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return pyJson(value);
}

/** A value as Python's str() prints it (True/False), the text sort and filter compare. */
function textOf(value: Exclude<Value, null>): string {
  return typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value);
}

/** Python's f"{value:.5g}" (DVC's default precision): exponent form below 1e-4 and from 1e5 on. */
function formatNumber(value: number): string {
  const [mantissa, power] = value.toExponential(4).split('e');
  const exponent = Number(power);
  const strip = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exponent < -4 || exponent >= 5) {
    return `${strip(mantissa)}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return strip(value.toFixed(4 - exponent));
}

/** The value a column sorts on. */
export function cellValue(row: ExpRow, columnId: string): Value {
  if (columnId === EXPERIMENT) return labelOf(row);
  if (columnId === CREATED) return row.kind === 'workspace' ? null : row.created;
  const first = columnId.indexOf(':');
  const last = columnId.lastIndexOf(':');
  const kind = columnId.slice(0, first) as 'metrics' | 'params';
  if (kind !== 'metrics' && kind !== 'params') return null;
  // A file name may hold ':', a dotted key does not: split at the first and the last one.
  const file = columnId.slice(first + 1, last);
  const key = columnId.slice(last + 1);
  return jsonValue(row[kind]?.[file]?.[key]);
}

/** A number to 5 significant digits (DVC's default precision), booleans as Python prints them. */
export function formatValue(value: Value): string {
  if (value === null) return MISSING;
  if (typeof value === 'number' && !Number.isInteger(value) && Number.isFinite(value)) return formatNumber(value);
  return textOf(value);
}

/** `Created` as `exp show` prints it: the time for today, the date otherwise. */
export function formatCreated(iso: string | null, now: Date = new Date()): string {
  if (!iso) return MISSING;
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  const sameDay =
    when.getFullYear() === now.getFullYear() && when.getMonth() === now.getMonth() && when.getDate() === now.getDate();
  if (sameDay) {
    return when.toLocaleTimeString('en-US', { hour: '2-digit', minute: '2-digit', hour12: true });
  }
  return when.toLocaleDateString('en-US', { month: 'short', day: '2-digit', year: 'numeric' });
}

/** The text of a cell. */
export function cellText(row: ExpRow, column: Column, now?: Date): string {
  if (column.id === EXPERIMENT) return row.experiment + (row.best_of ? BEST_TRIAL : '');
  if (column.id === CREATED) return row.kind === 'workspace' ? MISSING : formatCreated(row.created, now);
  return formatValue(cellValue(row, column.id));
}

/** Numbers before text, numbers by value, text by code point (as the widget). */
export function compareValues(a: Value, b: Value): number {
  const numA = typeof a === 'number';
  const numB = typeof b === 'number';
  if (numA && numB) return Number(a > b) - Number(a < b);
  if (numA !== numB) return numA ? -1 : 1;
  const x = textOf(a as Exclude<Value, null>);
  const y = textOf(b as Exclude<Value, null>);
  return Number(x > y) - Number(x < y);
}

/** Which baseline a row belongs to: the workspace and each baseline head a group of their own. */
function groupOf(row: ExpRow): string {
  if (row.kind === 'workspace') return 'workspace';
  if (row.kind === 'baseline') return row.rev;
  return row.baseline ?? '';
}

/** Rows in display order: the workspace and baselines stay where they are, and the experiments under
 * each baseline are sorted by `sort.column`; a checkpoint chain moves as one unit, by its tip. Rows
 * without a value go last in either direction. */
export function sortRows(rows: ExpRow[], sort: SortState | null): ExpRow[] {
  const units = new Map<string, ExpRow[]>();
  const groups = new Map<string, string[]>();
  for (const row of rows) {
    const unit = unitOf(row);
    if (!units.has(unit)) {
      units.set(unit, []);
      const group = groupOf(row);
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group)!.push(unit);
    }
    units.get(unit)!.push(row);
  }
  const isHead = (unit: string) => ['workspace', 'baseline'].includes(units.get(unit)![0].kind);
  const shown: ExpRow[] = [];
  for (const unitIds of groups.values()) {
    const heads = unitIds.filter(isHead);
    const others = unitIds.filter(u => !isHead(u));
    if (sort?.column) {
      others.sort((ua, ub) => {
        const a = cellValue(units.get(ua)![0], sort.column);
        const b = cellValue(units.get(ub)![0], sort.column);
        if (a === null || b === null) return Number(a === null) - Number(b === null);
        const order = compareValues(a, b);
        return sort.descending ? -order : order;
      });
    }
    for (const unit of heads.concat(others)) shown.push(...units.get(unit)!);
  }
  return shown;
}

/** A header click: a new column sorts ascending, the same one flips, a third click restores the order. */
export function nextSort(current: SortState | null, column: string): SortState | null {
  if (!current || current.column !== column) return { column, descending: false };
  return current.descending ? null : { column, descending: true };
}

/** What the experiments API resolves for a row: its name when it has one, else its sha. */
export function refOf(row: ExpRow): string {
  return ['experiment', 'queued', 'baseline'].includes(row.kind) && row.name ? row.name : row.rev;
}

/** The table with the rows `GET running` sent in place of the same revs' (live metrics, label), each
 * keeping its tree glyph from the whole table; a row the table does not have waits for the next full load. */
export function mergeRunning(rows: ExpRow[], live: ExpRow[]): ExpRow[] {
  const fresh = new Map(live.map(row => [row.rev, row]));
  return rows.map(row => {
    const now = fresh.get(row.rev);
    if (!now) return row;
    const glyph = row.experiment.slice(0, row.experiment.length - labelOf(row).length);
    return { ...now, experiment: glyph + labelOf(now) };
  });
}

/** The names `POST remove` gets for a selection: experiments, checkpoints and queued entries only, not one
 * a worker is running (it would still commit its experiment after its entry went). */
export function removableRefs(rows: ExpRow[]): string[] {
  return [...new Set(rows.filter(r => REMOVABLE.has(r.kind) && !r.running).map(refOf))];
}

/** Per metrics column, the best number (min for loss/error names, else max), to highlight. */
export function bestValues(rows: ExpRow[], columns: Column[]): Map<string, number> {
  const best = new Map<string, number>();
  for (const col of columns) {
    if (col.kind !== 'metrics') continue;
    const numbers = rows.map(r => cellValue(r, col.id)).filter((v): v is number => typeof v === 'number');
    if (numbers.length) best.set(col.id, MINIMISED.test(col.key) ? Math.min(...numbers) : Math.max(...numbers));
  }
  return best;
}

/** `-S` overrides typed in one line: `train.lr=0.2 train.epochs=3 +new.key=1 ~old.key`.
 * Throws an Error naming the first word that is not `[file:]key=value`, `+key=value` or `~key`. */
export function parseParams(text: string): string[] {
  const words = text.trim().split(/\s+/).filter(Boolean);
  for (const word of words) {
    const match = PARAM.exec(word);
    const removal = match?.[1] === '~';
    if (!match || (removal ? match[3] !== undefined : match[3] === undefined || match[4] === '')) {
      throw new Error(`'${word}' is not key=value (or +key=value to add, ~key to remove)`);
    }
  }
  return words;
}

/** `POST sweep`'s body from the CLI's words: `--optuna 20 -S key=loguniform(1e-4,1e-1) --objective acc
 * [--direction maximize] [-j 2] [--study NAME]`. */
export interface SweepRequest {
  params: string[];
  trials: number;
  objective: string;
  direction: 'minimize' | 'maximize';
  jobs: number;
  study?: string;
}

export function parseSweep(text: string): SweepRequest {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const request: SweepRequest = { params: [], trials: 0, objective: '', direction: 'minimize', jobs: 1 };
  const count = (flag: string, word: string | undefined): number => {
    const value = Number(word);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} takes a whole number of at least 1, not '${word ?? ''}'`);
    return value;
  };
  for (let i = 0; i < words.length; i++) {
    const [flag, value] = [words[i], words[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i++;
    if (flag === '--optuna') request.trials = count(flag, value);
    else if (flag === '-j' || flag === '--jobs') request.jobs = count(flag, value);
    else if (flag === '-S' || flag === '--set-param') request.params.push(value.replace(/^'(.*)'$/, '$1'));
    else if (flag === '--objective') request.objective = value;
    else if (flag === '--study') request.study = value;
    else if (flag === '--direction' && (value === 'minimize' || value === 'maximize')) request.direction = value;
    else throw new Error(`'${flag} ${value}' is not a sweep option (--optuna, -S, --objective, --direction, -j, --study)`);
  }
  if (!request.trials || !request.objective || !request.params.length) {
    throw new Error('a sweep needs --optuna N, --objective METRIC and at least one -S key=space');
  }
  return request;
}

/** What a finished background run of the queue reports (`GET status` -> `run`). */
export interface QueueOutcome {
  results: { name: string; error: string | null }[];
  error: string | null;
}

/** The message after the queue ran: how many succeeded, and each failure with its error. */
export function queueSummary(run: QueueOutcome): { text: string; failed: boolean } {
  if (run.error) return { text: `The queue stopped: ${run.error}`, failed: true };
  const failed = run.results.filter(r => r.error);
  let text = `Queue done: ${run.results.length - failed.length} succeeded`;
  if (failed.length) text += `, ${failed.length} failed (${failed.map(r => `${r.name}: ${r.error}`).join('; ')})`;
  return { text, failed: failed.length > 0 };
}

const COMPARISON = /^\s*([^<>=!\s]+)\s*(<=|>=|!=|==|=|<|>)\s*(\S.*?)\s*$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/; // what Python's side reads as a number too

/** The filter box, as the core reads it: `loss<0.5` compares a column (by id, key or label), anything else
 * is a case-insensitive part of the name, label or rev. The workspace and baselines stay, and a checkpoint
 * chain stays whole when any of its rows matches. The order of `rows` is kept. */
export function filterRows(rows: ExpRow[], columns: Column[], text: string): ExpRow[] {
  const wanted = text.trim();
  if (!wanted) return rows;
  let matches = (row: ExpRow): boolean =>
    [labelOf(row), row.name ?? '', row.rev].some(s => s.toLowerCase().includes(wanted.toLowerCase()));
  const found = COMPARISON.exec(wanted);
  const col = found && columns.find(c => [c.id, c.key, c.label].includes(found[1]));
  if (found && col) {
    const [, , op, target] = found;
    matches = row => {
      const value = cellValue(row, col.id);
      if (value === null) return false;
      const order =
        typeof value === 'number' && NUMBER.test(target)
          ? Math.sign(value - Number(target))
          : compareValues(textOf(value), target);
      return { '<': order < 0, '<=': order <= 0, '>': order > 0, '>=': order >= 0, '!=': order !== 0 }[op] ?? order === 0;
    };
  }
  const units = new Set(rows.filter(matches).map(unitOf));
  return rows.filter(row => row.kind === 'workspace' || row.kind === 'baseline' || units.has(unitOf(row)));
}

/** A checkpoint chain's rows share their tip's sha; any other row is a unit of its own. */
function unitOf(row: ExpRow): string {
  return row.checkpoint_tip ?? row.rev;
}

/** The rows drawn with the chains in `collapsed` (tip shas) folded to their first row, the tip. */
export function collapseRows(rows: ExpRow[], collapsed: ReadonlySet<string>): ExpRow[] {
  const seen = new Set<string>();
  return rows.filter(row => {
    const unit = unitOf(row);
    if (!collapsed.has(unit)) return true;
    const first = !seen.has(unit);
    seen.add(unit);
    return first;
  });
}

/** Sort, filter, collapse: what the panel draws, in the core's TableView.visible_rows order. */
export function visibleRows(
  rows: ExpRow[],
  columns: Column[],
  view: { sort: SortState | null; filter: string; collapsed?: ReadonlySet<string> }
): ExpRow[] {
  return collapseRows(filterRows(sortRows(rows, view.sort), columns, view.filter), view.collapsed ?? new Set());
}
