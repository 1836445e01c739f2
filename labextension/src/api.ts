// The REST client of the server extension (jupyter_exp/server/handlers.py), under /jupyter-exp/api/.
// ServerConnection adds the token and the XSRF header the server checks on POST.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ExpRow, SweepRequest } from './table';

export const API_PREFIX = 'jupyter-exp/api';

/** An answer other than 2xx: `status` 404 means no repository here; `type` is the Python error class. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = ''
  ) {
    super(message);
  }
}

export interface Experiments {
  root: string;
  rows: ExpRow[];
}

export interface QueueRun {
  running: boolean;
  started: string;
  finished: string | null;
  results: { name: string; rev: string; error: string | null }[];
  error: string | null;
  messages: string[];
}

export interface Status {
  version: string;
  root: string;
  queued: number;
  failed: number;
  running: string[]; // the entries a worker runs now
  run: QueueRun | null;
}

/** One of `exp diff`'s two tables as the core prints it: Path, Metric|Param, A, B, Change. */
export interface DiffTable {
  header: string[];
  rows: string[][];
}

/** `GET diff`: revision `b` against `a`, only what differs. */
export interface Diff {
  a: string;
  b: string;
  tables: { metrics: DiffTable; params: DiffTable };
}

export interface ActionResult {
  messages: string[];
  [key: string]: unknown;
}

async function request(endpoint: string, init: RequestInit = {}, query: Record<string, string> = {}): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const search = new URLSearchParams(query).toString();
  const url = URLExt.join(settings.baseUrl, API_PREFIX, endpoint) + (search ? `?${search}` : '');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (!response.ok) {
    const text = await response.text();
    let message = text || response.statusText;
    let type = '';
    try {
      const data = JSON.parse(text);
      message = data.error ?? data.message ?? message;
      type = data.type ?? '';
    } catch {
      // not JSON (a proxy's page): keep the text
    }
    throw new ApiError(response.status, message, type);
  }
  return response;
}

async function getJSON<T>(endpoint: string, query: Record<string, string>): Promise<T> {
  return (await request(endpoint, {}, query)).json();
}

async function post(endpoint: string, body: Record<string, unknown>): Promise<ActionResult> {
  return (await request(endpoint, { method: 'POST', body: JSON.stringify(body) })).json();
}

export const api = {
  experiments: (path: string) => getJSON<Experiments>('experiments', { path }),
  status: (path: string) => getJSON<Status>('status', { path }),
  running: (path: string) => getJSON<{ rows: ExpRow[] }>('running', { path }),
  apply: (path: string, rev: string, force = false) => post('apply', { path, rev, force }),
  branch: (path: string, rev: string, branch: string) => post('branch', { path, rev, branch }),
  remove: (path: string, names: string[]) => post('remove', { path, names }),
  queue: (path: string, params: string[]) => post('run', { path, params, queue: true }),
  runAll: (path: string) => post('run_all', { path }),
  sweep: (path: string, request: SweepRequest) => post('sweep', { path, ...request }),
  diff: (path: string, a: string, b: string) => getJSON<Diff>('diff', { path, a, b }),
  plots: async (path: string, revs: string[]) => (await request('plots', {}, { path, revs: revs.join(',') })).text()
};
