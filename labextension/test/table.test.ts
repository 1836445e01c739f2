import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  bestValues,
  cellText,
  cellValue,
  columnsOf,
  compareValues,
  ExpRow,
  filterRows,
  formatCreated,
  formatValue,
  labelOf,
  mergeRunning,
  nextSort,
  parseParams,
  parseSweep,
  queueSummary,
  refOf,
  removableRefs,
  sortRows,
  visibleRows
} from '../src/table';

const BASE = 'b'.repeat(40);

function row(rev: string, kind: ExpRow['kind'], extra: Partial<ExpRow> = {}): ExpRow {
  return {
    rev,
    name: null,
    kind,
    baseline: kind === 'workspace' || kind === 'baseline' ? null : BASE,
    parent: null,
    created: '2024-03-01T15:16:00+00:00',
    experiment: rev.slice(0, 7),
    checkpoint_tip: null,
    params: {},
    metrics: {},
    error: null,
    ...extra
  };
}

const exp = (rev: string, name: string | null, loss: number | undefined, glyph = '├── ', extra: Partial<ExpRow> = {}) =>
  row(rev, 'experiment', {
    name,
    experiment: glyph + (name ?? rev.slice(0, 7)),
    metrics: loss === undefined ? {} : { 'metrics.json': { loss } },
    params: { 'params.yaml': { 'train.lr': 0.1 } },
    ...extra
  });

const TABLE: ExpRow[] = [
  row('workspace', 'workspace', { experiment: 'workspace', metrics: { 'metrics.json': { loss: 0.3 } } }),
  row(BASE, 'baseline', { name: 'main', experiment: 'main', metrics: { 'metrics.json': { loss: 0.5 } } }),
  exp('1'.repeat(40), 'exp-a', 0.4),
  exp('2'.repeat(40), 'exp-b', 0.2),
  exp('3'.repeat(40), 'exp-c', undefined),
  exp('4'.repeat(40), 'exp-d', 0.3, '└── ')
];

describe('columnsOf', () => {
  it('puts Experiment and Created first, then metrics, then params, with widget ids', () => {
    const cols = columnsOf(TABLE);
    expect(cols.map(c => c.id)).toEqual([
      'Experiment',
      'Created',
      'metrics:metrics.json:loss',
      'params:params.yaml:train.lr'
    ]);
    expect(cols.map(c => c.label)).toEqual(['Experiment', 'Created', 'loss', 'train.lr']);
  });

  it('labels a key found in two files file:key', () => {
    const rows = [
      row('a'.repeat(40), 'experiment', { metrics: { 'a.json': { acc: 1 }, 'b.json': { acc: 2, f1: 3 } } })
    ];
    expect(columnsOf(rows).map(c => c.label)).toEqual(['Experiment', 'Created', 'a.json:acc', 'b.json:acc', 'f1']);
  });
});

describe('cells', () => {
  it('reads values by column id, nested structures as JSON, a colon in the file name kept', () => {
    const r = row('a'.repeat(40), 'experiment', {
      metrics: { 'C:/m.json': { 'a.b': 1.5 } },
      params: { 'params.yaml': { layers: [1, 2] } }
    });
    expect(cellValue(r, 'metrics:C:/m.json:a.b')).toBe(1.5);
    expect(cellValue(r, 'params:params.yaml:layers')).toBe('[1, 2]'); // as Python's json.dumps writes it
    expect(cellValue(r, 'params:params.yaml:missing')).toBeNull();
  });

  it('formats numbers to 5 significant digits, booleans as Python, missing as -', () => {
    expect(formatValue(0.123456789)).toBe('0.12346');
    expect(formatValue(12)).toBe('12');
    expect(formatValue(1e-7)).toBe('1e-07'); // Python's %g
    expect(formatValue(true)).toBe('True');
    expect(formatValue(null)).toBe('-');
    expect(formatValue('NaN')).toBe('NaN');
  });

  it('shows Created as a time today and a date otherwise, - for the workspace', () => {
    const now = new Date(2024, 2, 1, 18, 0);
    expect(formatCreated(new Date(2024, 2, 1, 15, 16).toISOString(), now)).toBe('03:16 PM');
    expect(formatCreated(new Date(2023, 11, 24, 9, 0).toISOString(), now)).toBe('Dec 24, 2023');
    const cols = columnsOf(TABLE);
    expect(cellText(TABLE[0], cols[1], now)).toBe('-');
    expect(cellText(TABLE[2], cols[0], now)).toBe('├── exp-a');
  });

  it('strips the tree glyph for labels', () => {
    expect(labelOf(exp('5'.repeat(40), null, 1, '│ ╟ '))).toBe('5555555');
    expect(labelOf(exp('5'.repeat(40), 'fast', 1, '├─╨ '))).toBe('fast');
  });
});

describe('sorting', () => {
  const revs = (rows: ExpRow[]) => rows.map(r => r.name ?? r.rev);

  it('orders numbers before text', () => {
    expect(compareValues(1, 'a')).toBe(-1);
    expect(compareValues('b', 'a')).toBe(1);
    expect(compareValues(2, 10)).toBe(-1);
  });

  it('sorts experiments under their baseline, keeps heads on top and missing values last both ways', () => {
    const col = 'metrics:metrics.json:loss';
    expect(revs(sortRows(TABLE, { column: col, descending: false }))).toEqual([
      'workspace',
      'main',
      'exp-b',
      'exp-d',
      'exp-a',
      'exp-c'
    ]);
    expect(revs(sortRows(TABLE, { column: col, descending: true }))).toEqual([
      'workspace',
      'main',
      'exp-a',
      'exp-d',
      'exp-b',
      'exp-c'
    ]);
    expect(sortRows(TABLE, null)).toEqual(TABLE);
  });

  it('moves a checkpoint chain as one unit, by its tip', () => {
    const tip = 'c'.repeat(40);
    const rows = [
      row(BASE, 'baseline', { name: 'main' }),
      exp(tip, 'chain', 0.9, '│ ╓ ', { checkpoint_tip: tip }),
      row('d'.repeat(40), 'checkpoint', { checkpoint_tip: tip, metrics: { 'metrics.json': { loss: 0.01 } } }),
      exp('e'.repeat(40), 'exp-e', 0.5)
    ];
    const sorted = sortRows(rows, { column: 'metrics:metrics.json:loss', descending: false });
    expect(sorted.map(r => r.rev[0])).toEqual(['b', 'e', 'c', 'd']);
  });

  it('cycles a header: ascending, descending, original order; another column starts ascending', () => {
    const first = nextSort(null, 'x');
    expect(first).toEqual({ column: 'x', descending: false });
    const second = nextSort(first, 'x');
    expect(second).toEqual({ column: 'x', descending: true });
    expect(nextSort(second, 'x')).toBeNull();
    expect(nextSort(second, 'y')).toEqual({ column: 'y', descending: false });
  });
});

describe('actions', () => {
  it('names experiments, queued entries and baselines, shas otherwise', () => {
    expect(refOf(TABLE[2])).toBe('exp-a');
    expect(refOf(row('f'.repeat(40), 'checkpoint'))).toBe('f'.repeat(40));
    expect(refOf(row('f'.repeat(40), 'queued'))).toBe('f'.repeat(40));
    expect(refOf(TABLE[0])).toBe('workspace');
  });

  it('removes only experiments, checkpoints and queued entries, each once', () => {
    expect(removableRefs([TABLE[0], TABLE[1], TABLE[2], TABLE[2], row('q'.repeat(40), 'queued', { name: 'q1' })])).toEqual([
      'exp-a',
      'q1'
    ]);
  });

  it('merges the running rows into the table, each keeping its place and tree glyph', () => {
    const queued = row('r'.repeat(40), 'queued', { name: 'r1', experiment: '└── *r1' });
    const live = row('r'.repeat(40), 'queued', {
      name: 'r1', experiment: '├── *r1 (running)', running: true, metrics: { 'logs.json': { score: 0.3 } }
    });
    const stranger = row('s'.repeat(40), 'queued', { running: true }); // queued after the last full load
    const merged = mergeRunning([TABLE[0], queued, TABLE[2]], [live, stranger]);
    expect(merged.map(r => r.rev)).toEqual([TABLE[0].rev, queued.rev, TABLE[2].rev]);
    expect(merged[1]).toEqual({ ...live, experiment: '└── *r1 (running)' });
    expect(merged[0]).toBe(TABLE[0]);
  });

  it('never removes a queued entry a worker is running (it would commit its experiment anyway)', () => {
    const running = row('r'.repeat(40), 'queued', { name: 'r1', running: true });
    expect(removableRefs([running, row('q'.repeat(40), 'queued', { name: 'q1' })])).toEqual(['q1']);
  });

  it('marks the best metric: min for loss, max otherwise', () => {
    const rows = [exp('1'.repeat(40), 'a', 0.4), exp('2'.repeat(40), 'b', 0.2)];
    rows[0].metrics['metrics.json'].acc = 0.9;
    rows[1].metrics['metrics.json'].acc = 0.8;
    const best = bestValues(rows, columnsOf(rows));
    expect(best.get('metrics:metrics.json:loss')).toBe(0.2);
    expect(best.get('metrics:metrics.json:acc')).toBe(0.9);
  });

  it('parses -S overrides typed on one line and names a bad word', () => {
    expect(parseParams('  train.lr=0.2  params.yaml:train.epochs=3 +new.k=1 ~old.k ')).toEqual([
      'train.lr=0.2',
      'params.yaml:train.epochs=3',
      '+new.k=1',
      '~old.k'
    ]);
    expect(parseParams('')).toEqual([]);
    expect(() => parseParams('train.lr')).toThrow("'train.lr' is not key=value");
    expect(() => parseParams('train.lr=')).toThrow("'train.lr='");
    expect(() => parseParams('~old.k=1')).toThrow("'~old.k=1'");
  });
});

describe('queueSummary', () => {
  it('counts successes and names each failure with its error', () => {
    expect(queueSummary({ results: [{ name: 'a', error: null }], error: null })).toEqual({
      text: 'Queue done: 1 succeeded',
      failed: false
    });
    const mixed = queueSummary({
      results: [
        { name: 'a', error: null },
        { name: 'b', error: "stage 'train' failed" }
      ],
      error: null
    });
    expect(mixed).toEqual({ text: "Queue done: 1 succeeded, 1 failed (b: stage 'train' failed)", failed: true });
    expect(queueSummary({ results: [], error: 'boom' })).toEqual({ text: 'The queue stopped: boom', failed: true });
  });
});

describe('parseSweep', () => {
  it('reads the words of `jupyter exp sweep`', () => {
    expect(
      parseSweep("--optuna 20 -S 'lr=loguniform(1e-4,1e-1)' -S layers=int(1,4) --objective acc --direction maximize -j 2")
    ).toEqual({
      params: ['lr=loguniform(1e-4,1e-1)', 'layers=int(1,4)'],
      trials: 20,
      objective: 'acc',
      direction: 'maximize',
      jobs: 2
    });
    expect(parseSweep('--optuna 3 -S a=1,2 --objective loss --study s1')).toMatchObject({
      direction: 'minimize',
      jobs: 1,
      study: 's1'
    });
  });

  it('names what is wrong', () => {
    expect(() => parseSweep('--optuna 0 -S a=1,2 --objective x')).toThrow('--optuna takes a whole number');
    expect(() => parseSweep('--optuna 2 -S a=1,2')).toThrow('needs --optuna N, --objective METRIC');
    expect(() => parseSweep('--optuna 2 --objective x -S')).toThrow('-S needs a value');
    expect(() => parseSweep('--optuna 2 --objective x --direction up')).toThrow("'--direction up' is not a sweep option");
  });
});

describe('best trial', () => {
  it('is marked after its name', () => {
    const row = { experiment: '├── s-3', best_of: 's' } as unknown as ExpRow;
    const column = { id: 'Experiment', kind: 'info', file: '', key: 'Experiment', label: 'Experiment' } as const;
    expect(cellText(row, column)).toBe('├── s-3 ★');
    expect(cellText({ ...row, best_of: null }, column)).toBe('├── s-3');
  });
});

describe('filterRows', () => {
  const rows = [
    row('w', 'workspace', { experiment: 'workspace', metrics: { 'm.json': { loss: 0.3 } } }),
    row(BASE, 'baseline', { experiment: 'main', metrics: { 'm.json': { loss: 0.9 } } }),
    row('a'.repeat(40), 'experiment', { name: 'fast-lr', experiment: '├── fast-lr', metrics: { 'm.json': { loss: 0.2 } } }),
    row('c'.repeat(40), 'experiment', { name: 'slow-lr', experiment: '└── slow-lr', metrics: { 'm.json': { loss: 0.7 } } })
  ];
  const columns = columnsOf(rows);
  const names = (text: string) => filterRows(rows, columns, text).map(labelOf);

  it('keeps every row for an empty filter and the workspace and baselines always', () => {
    expect(names('  ')).toEqual(['workspace', 'main', 'fast-lr', 'slow-lr']);
    expect(names('nothing-matches')).toEqual(['workspace', 'main']);
  });
  it('matches part of a name, label or rev, ignoring case', () => {
    expect(names('FAST')).toEqual(['workspace', 'main', 'fast-lr']);
    expect(names('cccc')).toEqual(['workspace', 'main', 'slow-lr']);
  });
  it('compares a column named by its key, label or id', () => {
    expect(names('loss<0.5')).toEqual(['workspace', 'main', 'fast-lr']);
    expect(names('metrics:m.json:loss >= 0.7')).toEqual(['workspace', 'main', 'slow-lr']);
    expect(names('loss=0.2')).toEqual(['workspace', 'main', 'fast-lr']);
    expect(names('loss!=0.2')).toEqual(['workspace', 'main', 'slow-lr']);
  });
});

// The same rules as the core's TableView (jupyter_exp/experiments/table.py): tests/experiments/test_table_view.py
// checks Python against this file, this block checks table.ts.
describe('the rules shared with the core (tests/experiments/table_rules.json)', () => {
  const rules = JSON.parse(
    readFileSync(fileURLToPath(new URL('../../tests/experiments/table_rules.json', import.meta.url)), 'utf8')
  );
  const rows: ExpRow[] = rules.rows;
  const columns = columnsOf(rows);

  it('has the same columns, best values and cell text', () => {
    expect(columns.map(c => ({ id: c.id, label: c.label }))).toEqual(rules.columns);
    expect(Object.fromEntries(bestValues(rows, columns))).toEqual(rules.best);
    const texts = rows.map(r => ({
      rev: r.rev,
      texts: Object.fromEntries(columns.filter(c => c.kind !== 'info').map(c => [c.id, cellText(r, c)]))
    }));
    expect(texts).toEqual(rules.cells);
  });

  for (const rule of rules.cases) {
    it(`draws rows in the core's order: ${rule.why}`, () => {
      const shown = visibleRows(rows, columns, {
        sort: rule.sort,
        filter: rule.filter,
        collapsed: new Set(rule.collapsed)
      });
      expect(shown.map(r => r.rev)).toEqual(rule.order);
    });
  }
});
