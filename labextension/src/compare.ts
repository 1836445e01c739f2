// The Compare tab: for two rows, their `exp diff` (params and metrics side by side, the core's text), then
// the plots page of every selected row in a sandboxed iframe (its scripts run, but not as JupyterLab).
import { MainAreaWidget } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { Diff, DiffTable } from './api';

function diffTable(kind: 'metrics' | 'params', table: DiffTable): HTMLTableElement {
  const node = document.createElement('table');
  node.className = 'jx-diff-table';
  node.dataset.kind = kind;
  const head = node.createTHead().insertRow();
  for (const title of table.header) head.append(Object.assign(document.createElement('th'), { textContent: title }));
  const body = node.createTBody();
  for (const cells of table.rows) {
    const tr = body.insertRow();
    tr.className = 'jx-diff-row';
    for (const text of cells) tr.insertCell().textContent = text;
  }
  return node;
}

/** `exp diff A B` as two tables, or a line saying nothing differs (as the CLI prints nothing). */
export function diffNode(diff: Diff): HTMLElement {
  const node = document.createElement('section');
  node.className = 'jx-diff';
  node.append(Object.assign(document.createElement('h3'), { textContent: `${diff.b} against ${diff.a}` }));
  const kinds = (['metrics', 'params'] as const).filter(kind => diff.tables[kind].rows.length);
  for (const kind of kinds) node.append(diffTable(kind, diff.tables[kind]));
  if (!kinds.length) {
    node.append(Object.assign(document.createElement('p'), { textContent: 'No param or metric differs.' }));
  }
  return node;
}

/** A main-area tab: the diff (when two rows were compared) above the plots page. */
export function comparePage(title: string, html: string, diff: Diff | null, icon: LabIcon): MainAreaWidget {
  const content = new Widget();
  content.addClass('jx-compare');
  if (diff) content.node.append(diffNode(diff));
  const frame = document.createElement('iframe');
  frame.setAttribute('sandbox', 'allow-scripts');
  frame.srcdoc = html;
  content.node.append(frame);
  const widget = new MainAreaWidget({ content });
  widget.title.label = title;
  widget.title.icon = icon;
  widget.title.closable = true;
  return widget;
}
