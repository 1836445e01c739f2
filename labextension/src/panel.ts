// The "Experiments" side panel: the experiments of the repository holding the file browser's folder,
// refreshed every few seconds while it is visible (the running rows alone every second while the queue
// runs, so their live metrics move), with the actions of the notebook widget's toolbar.
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { api, ApiError, Diff, Status } from './api';
import { Poll } from './poll';
import {
  bestValues,
  cellText,
  cellValue,
  Column,
  columnsOf,
  ExpRow,
  filterRows,
  labelOf,
  mergeRunning,
  nextSort,
  parseParams,
  parseSweep,
  queueSummary,
  refOf,
  removableRefs,
  SortState,
  sortRows
} from './table';

export const POLL_MS = 4000;
/** While experiments run, their rows (`GET running`: the metrics logged so far) are re-read this often. */
export const LIVE_POLL_MS = 1000;
/** However slow the server was (the first `exp show` of a large repository fills its caches). */
const SLOWEST_POLL_MS = 15000;
/** Rows are drawn only around the visible window (a repository may have 10,000): same-height rows (24 px
 * in the stylesheet, measured once drawn), spacer rows for the rest, so the scroll bar is the whole table's. */
export const ROW_PX = 24;
const OVERSCAN = 20;

type Action = 'refresh' | 'apply' | 'branch' | 'remove' | 'compare' | 'queue' | 'run_all' | 'sweep';
const BUTTONS: [Action, string, string][] = [
  ['refresh', '⟳', 'Refresh'],
  ['apply', 'Apply', 'Bring the selected experiment into the workspace'],
  ['branch', 'Branch', 'Create a Git branch from the selected experiment'],
  ['remove', 'Remove', 'Remove the selected experiments or queued entries'],
  ['compare', 'Compare', 'Plots of the selected rows, overlaid, in a new tab (and the diff of two)'],
  ['queue', 'Queue…', 'Queue an experiment with changed params'],
  ['run_all', 'Run queue', 'Run the queued experiments in the background'],
  ['sweep', 'Sweep…', 'Start an Optuna search in the background, each trial an experiment']
];

export interface PanelOptions {
  /** The file browser's folder, relative to the server root. */
  currentPath: () => string;
  /** Opens a plots page (full HTML) in a main-area tab, under the diff of two compared rows. */
  openPage: (title: string, html: string, diff: Diff | null) => void;
  pollMs?: number;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

export class ExperimentsPanel extends Widget {
  private readonly options: PanelOptions;
  private readonly rootLabel = el('span', { class: 'jx-root' });
  private readonly message = el('div', { class: 'jx-message' });
  private readonly head = el('tr');
  private readonly body = el('tbody');
  private readonly count = el('span', { class: 'jx-count' });
  private readonly queueState = el('span', { class: 'jx-queue-state' });
  private readonly buttons = new Map<Action, HTMLButtonElement>();
  private readonly filter = el('input', {
    class: 'jx-filter jp-mod-styled',
    type: 'search',
    placeholder: 'Filter: name, or loss<0.5',
    'aria-label': 'Filter experiments'
  });
  private readonly scroller = el('div', { class: 'jx-scroller', tabindex: '0', role: 'grid' });
  private rows: ExpRow[] = [];
  private ordered: ExpRow[] = []; // sorted and filtered: what the table shows, top to bottom
  private cursor = -1; // the keyboard's row in `ordered`
  private drawn = '';
  private rowPx = ROW_PX;
  private best = new Map<string, number>();
  private rowsText = '';
  private shown = '';
  private columns: Column[] = [];
  private status: Status | null = null;
  private sort: SortState | null = null;
  private selected = new Set<string>();
  private path = '';
  private notRepo = '';
  private busy = false;
  private loading: Promise<void> | null = null;
  /** Full refreshes, at least two of their durations apart (up to SLOWEST_POLL_MS): a warm `exp show` of
   * 10,000 experiments takes seconds, and the server has runs to serve. */
  private readonly poll = new Poll(
    async () => {
      if (this.isVisible && !this.busy) await this.refresh();
      return this.isVisible;
    },
    () => Math.max(this.options.pollMs ?? POLL_MS, Math.min(2 * this.loadMs, SLOWEST_POLL_MS))
  );
  private readonly livePoll = new Poll(() => this.loadRunning(), () => LIVE_POLL_MS);
  private loadMs = 0; // how long the last refresh took: a slow server is asked less often

  constructor(options: PanelOptions) {
    super();
    this.options = options;
    this.addClass('jx-panel');
    const toolbar = el('div', { class: 'jx-toolbar' });
    for (const [action, label, title] of BUTTONS) {
      const button = el('button', { class: 'jx-action jp-mod-styled', 'data-action': action, title }, label);
      button.addEventListener('click', () => void this.run(action));
      this.buttons.set(action, button);
      toolbar.append(button);
    }
    const table = el('table', { class: 'jx-grid' });
    const thead = el('thead');
    thead.append(this.head);
    table.append(thead, this.body);
    const scroller = this.scroller;
    scroller.append(table);
    toolbar.append(this.filter);
    this.filter.addEventListener('input', () => this.render());
    scroller.addEventListener('scroll', () => this.drawRows());
    scroller.addEventListener('keydown', event => this.onKey(event));
    const header = el('div', { class: 'jx-panel-header' });
    header.append(el('span', { class: 'jx-title' }, 'Experiments'), this.rootLabel);
    const footer = el('div', { class: 'jx-footer' });
    footer.append(this.count, this.queueState);
    this.node.append(header, toolbar, this.message, scroller, footer);
    this.head.addEventListener('click', event => {
      const th = (event.target as HTMLElement).closest<HTMLElement>('.jx-th');
      if (!th) return;
      this.sort = nextSort(this.sort, th.dataset.col!);
      this.render();
    });
    this.body.addEventListener('click', event => {
      const tr = (event.target as HTMLElement).closest<HTMLElement>('.jx-row');
      if (!tr) return;
      this.cursor = this.ordered.findIndex(r => r.rev === tr.dataset.rev);
      this.toggle(tr.dataset.rev!);
    });
  }

  private toggle(rev: string): void {
    if (!this.selected.delete(rev)) this.selected.add(rev);
    this.render();
  }

  /** Arrows, Page Up/Down, Home/End move the keyboard's row; Space or Enter selects it. */
  private onKey(event: KeyboardEvent): void {
    const page = Math.max(1, Math.floor(this.scroller.clientHeight / this.rowPx) - 1);
    const moves: Record<string, number> = {
      ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, End: Infinity, Home: -Infinity
    };
    if (event.key in moves) {
      this.cursor = Math.max(0, Math.min(this.ordered.length - 1, this.cursor + moves[event.key]));
      const header = this.head.getBoundingClientRect().height;
      const top = header + this.cursor * this.rowPx;
      if (top < this.scroller.scrollTop + header) this.scroller.scrollTop = top - header;
      else if (top + this.rowPx > this.scroller.scrollTop + this.scroller.clientHeight) {
        this.scroller.scrollTop = top + this.rowPx - this.scroller.clientHeight;
      }
      this.drawRows(true);
    } else if ((event.key === ' ' || event.key === 'Enter') && this.ordered[this.cursor]) {
      this.toggle(this.ordered[this.cursor].rev);
    } else {
      return;
    }
    event.preventDefault();
  }

  /** Load the rows and the queue state of the current folder's repository (one load at a time). */
  refresh(): Promise<void> {
    if (!this.loading) {
      const started = performance.now();
      this.loading = this.load().finally(() => {
        this.loading = null;
        this.loadMs = performance.now() - started;
      });
    }
    return this.loading;
  }

  private async load(): Promise<void> {
    const path = this.options.currentPath();
    if (path !== this.path) {
      this.path = path;
      this.selected.clear();
      this.rowsText = '';
    }
    try {
      const [experiments, status] = await Promise.all([api.experiments(path), api.status(path)]);
      const finished = this.status?.run?.running && status.run && !status.run.running ? status.run : null;
      if (finished) {
        const summary = queueSummary(finished);
        this.say(summary.text, summary.failed);
      }
      this.notRepo = '';
      this.status = status;
      this.rootLabel.textContent = experiments.root || '/';
      this.rootLabel.title = `Repository: ${experiments.root || 'the server root'}`;
      const text = JSON.stringify(experiments.rows);
      if (text !== this.rowsText) {
        this.rowsText = text;
        this.rows = experiments.rows;
        this.columns = columnsOf(this.rows);
        const revs = new Set(this.rows.map(r => r.rev));
        this.selected = new Set([...this.selected].filter(rev => revs.has(rev)));
        if (this.sort && !this.columns.some(c => c.id === this.sort!.column)) this.sort = null;
      }
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) {
        this.say(String((error as Error).message ?? error), true);
        return;
      }
      this.notRepo = error.message;
      this.rows = [];
      this.rowsText = '';
      this.columns = [];
      this.status = null;
      this.selected.clear();
      this.rootLabel.textContent = '';
    }
    // Polling must not rebuild an unchanged table under the pointer (a click would land on a new node).
    const shown = JSON.stringify([this.rowsText, this.status, this.notRepo]);
    if (shown !== this.shown) this.render();
    if (this.isVisible && this.running()) this.livePoll.start();
  }

  private say(text: string, isError = false): void {
    this.message.textContent = text;
    this.message.classList.toggle('jx-error', isError);
  }

  private selectedRows(): ExpRow[] {
    return this.rows.filter(r => this.selected.has(r.rev));
  }

  private render(): void {
    this.shown = JSON.stringify([this.rowsText, this.status, this.notRepo]);
    this.best = bestValues(this.rows, this.columns);
    const sort = this.sort;
    this.head.replaceChildren(
      ...this.columns.map(col => {
        const sorted = sort?.column === col.id;
        const th = el('th', {
          class: 'jx-th' + (sorted ? (sort!.descending ? ' jx-sorted jx-desc' : ' jx-sorted jx-asc') : ''),
          'data-col': col.id,
          'data-kind': col.kind,
          title: col.file ? `${col.file}: ${col.key}` : col.label
        });
        th.textContent = col.label + (sorted ? (sort!.descending ? ' ▼' : ' ▲') : '');
        return th;
      })
    );
    this.ordered = filterRows(sortRows(this.rows, sort), this.columns, this.filter.value);
    this.cursor = Math.min(this.cursor, this.ordered.length - 1);
    this.drawRows(true);
    if (this.notRepo) {
      const tr = el('tr', { class: 'jx-empty' });
      tr.append(el('td', {}, this.notRepo));
      this.body.replaceChildren(tr);
    }
    const queued = this.status?.queued ?? 0;
    const hidden = this.rows.length - this.ordered.length;
    this.count.textContent = this.notRepo ? '' : `${this.rows.length} rows` + (hidden ? `, ${hidden} filtered out` : '');
    const run = this.status?.run;
    const running = this.status?.running ?? [];
    this.queueState.textContent = run?.running || running.length
      ? `queue running…` + (running.length ? ` (${running.join(', ')})` : '')
      : queued
        ? `${queued} queued` + (this.status!.failed ? `, ${this.status!.failed} failed` : '')
        : '';
    this.updateButtons();
  }

  /** The rows in and near the visible window, between spacers the height of the rows left out. */
  private drawRows(force = false): void {
    if (this.notRepo) return;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / this.rowPx) - OVERSCAN);
    const last = Math.min(this.ordered.length, first + Math.ceil(height / this.rowPx) + 2 * OVERSCAN);
    const key = `${first}:${last}`;
    if (!force && key === this.drawn) return;
    this.drawn = key;
    const best = this.best;
    const now = new Date();
    const spacer = (rows: number) => {
      const tr = el('tr', { class: 'jx-spacer', 'aria-hidden': 'true' });
      tr.style.height = `${rows * this.rowPx}px`;
      return tr;
    };
    const drawn = this.ordered.slice(first, last).map((row, offset) => {
      const index = first + offset;
      const tr = el('tr', {
        class: `jx-row jx-${row.kind}` + (this.selected.has(row.rev) ? ' jx-selected' : '') +
          (row.error ? ' jx-failed' : '') + (row.running ? ' jx-running' : '') +
          (index === this.cursor ? ' jx-cursor' : ''),
        'data-rev': row.rev,
        'data-kind': row.kind,
        'data-index': String(index),
        'aria-selected': String(this.selected.has(row.rev)),
        title: row.error ?? (row.running ? 'Running: metrics logged so far' : '')
      });
      for (const col of this.columns) {
        const td = el('td', { class: 'jx-td', 'data-col': col.id }, cellText(row, col, now));
        const value = cellValue(row, col.id);
        if (best.has(col.id) && value === best.get(col.id)) td.classList.add('jx-best');
        tr.append(td);
      }
      return tr;
    });
    this.body.replaceChildren(spacer(first), ...drawn, spacer(this.ordered.length - last));
    const measured = drawn[0]?.getBoundingClientRect().height;
    if (measured && Math.abs(measured - this.rowPx) > 0.01) {
      this.rowPx = measured; // the theme's row height: spacers and scroll positions must use it
      this.drawRows(true);
    }
  }

  private updateButtons(): void {
    const rows = this.selectedRows();
    const one = rows.length === 1 ? rows[0] : null;
    const disabled: Record<Action, boolean> = {
      refresh: false,
      apply: !one || one.kind === 'workspace' || one.kind === 'queued',
      branch: !one || !['experiment', 'checkpoint'].includes(one.kind),
      remove: removableRefs(rows).length === 0,
      compare: rows.length === 0 || rows.some(r => r.kind === 'queued'),
      queue: !!this.notRepo,
      run_all: !!this.notRepo || !this.status?.queued || !!this.status?.run?.running,
      sweep: !!this.notRepo || !!this.status?.run?.running
    };
    for (const [action, button] of this.buttons) button.disabled = this.busy || disabled[action];
  }

  private async run(action: Action): Promise<void> {
    if (action === 'refresh') {
      this.say('');
      return this.refresh();
    }
    this.busy = true;
    this.updateButtons();
    try {
      const text = await this.act(action);
      if (text !== null) this.say(text);
    } catch (error) {
      this.say(String((error as Error).message ?? error), true);
    } finally {
      this.busy = false;
      await this.refresh();
    }
  }

  /** One toolbar action; returns the message to show, or null when the user cancelled. */
  private async act(action: Exclude<Action, 'refresh'>): Promise<string | null> {
    const path = this.path;
    const rows = this.selectedRows();
    const messages = (result: { messages: string[] }, fallback: string) => result.messages.join('\n') || fallback;
    switch (action) {
      case 'apply': {
        const ref = refOf(rows[0]);
        try {
          return messages(await api.apply(path, ref), `Applied '${labelOf(rows[0])}'.`);
        } catch (error) {
          if (!(error instanceof ApiError) || error.type !== 'DirtyWorkspaceError') throw error;
          const answer = await showDialog({
            title: 'Overwrite uncommitted changes?',
            body: error.message,
            buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Apply anyway' })]
          });
          if (!answer.button.accept) return null;
          return messages(await api.apply(path, ref, true), `Applied '${labelOf(rows[0])}'.`);
        }
      }
      case 'branch': {
        const row = rows[0];
        const answer = await InputDialog.getText({
          title: `Branch from '${labelOf(row)}'`,
          label: 'New Git branch name',
          text: row.name ? `${row.name}-branch` : ''
        });
        const name = answer.value?.trim();
        if (!answer.button.accept || !name) return null;
        return messages(await api.branch(path, refOf(row), name), `Created branch '${name}'.`);
      }
      case 'remove': {
        const names = removableRefs(rows);
        const answer = await showDialog({
          title: 'Remove experiments?',
          body: names.join(', '),
          buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
        });
        if (!answer.button.accept) return null;
        const result = await api.remove(path, names);
        this.selected.clear();
        return messages(result, `Removed ${names.join(', ')}.`);
      }
      case 'compare': {
        // As drawn, top to bottom (A, then B); a selected row the filter hides comes last.
        const place = (row: ExpRow) => {
          const index = this.ordered.indexOf(row);
          return index < 0 ? this.ordered.length : index;
        };
        const shown = [...rows].sort((x, y) => place(x) - place(y));
        const revs = shown.map(r => (r.kind === 'workspace' ? 'workspace' : refOf(r)));
        const [html, diff] = await Promise.all([
          api.plots(path, revs),
          revs.length === 2 ? api.diff(path, revs[0], revs[1]) : null
        ]);
        this.options.openPage(`Compare ${shown.map(labelOf).join(', ')}`, html, diff);
        return '';
      }
      case 'queue': {
        const answer = await InputDialog.getText({
          title: 'Queue experiment',
          label: 'Params to change (space separated, [file:]key=value)',
          placeholder: 'train.lr=0.2 train.epochs=3'
        });
        if (!answer.button.accept || answer.value === null) return null;
        const result = await api.queue(path, parseParams(answer.value));
        return messages(result, `Queued experiment '${result.name}'.`);
      }
      case 'run_all':
        await api.runAll(path);
        return `Running ${this.status?.queued ?? ''} queued experiment(s) in the background…`;
      case 'sweep': {
        const answer = await InputDialog.getText({
          title: 'Optuna sweep',
          label: "The words of `jupyter exp sweep` (each trial runs as an experiment; the best is marked ★)",
          text: '--optuna 10 -S train.lr=loguniform(1e-4,1e-1) --objective acc --direction maximize -j 2'
        });
        if (!answer.button.accept || answer.value === null) return null;
        const request = parseSweep(answer.value);
        await api.sweep(path, request);
        return `Sweeping ${request.trials} trial(s) in the background…`;
      }
    }
  }

  private running(): boolean {
    return !!(this.status?.run?.running || this.status?.running?.length);
  }

  /** The rows of the running entries alone (`GET running`), merged into the table; true while the last
   * full refresh saw entries running, which brings them back as finished experiments. */
  private async loadRunning(): Promise<boolean> {
    const path = this.path;
    try {
      const live = (await api.running(path)).rows;
      if (live.length && path === this.path) {
        this.rows = mergeRunning(this.rows, live);
        this.columns = columnsOf(this.rows); // a run may log a metric no row had
        this.rowsText = ''; // the next full refresh redraws whatever it brings
        this.render();
      }
    } catch {
      // the full refresh reports what is wrong
    }
    return this.isVisible && this.running();
  }

  private stopPolling(): void {
    this.poll.stop();
    this.livePoll.stop();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
    this.poll.start();
  }

  protected onBeforeHide(msg: Message): void {
    super.onBeforeHide(msg);
    this.stopPolling();
  }

  /** The file browser moved: reload now if visible (else at the next show). */
  onPathChanged(): void {
    if (this.isVisible) void this.refresh();
  }

  dispose(): void {
    this.stopPolling();
    super.dispose();
  }
}
