// JupyterLab plugin: the "Experiments" panel in the left area, its command palette entry, and the
// main-area tabs Compare opens (compare.ts: the diff of two rows, the plots page in a sandboxed iframe).
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { LabIcon } from '@jupyterlab/ui-components';

import { comparePage } from './compare';
import { ExperimentsPanel } from './panel';

const PANEL_ID = 'jupyter-exp-panel';
export const OPEN_COMMAND = 'jupyter-exp:open-panel';

const experimentsIcon = new LabIcon({
  name: 'jupyter-exp:experiments',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<path class="jp-icon3" fill="#616161" d="M9 2h6v2h-1v5.2l5.6 9.3A2 2 0 0 1 17.9 21H6.1a2 2 0 0 1-1.7-2.5L10 9.2V4H9z' +
    'M12 6v3.8L8.9 15h6.2L12 9.8z"/></svg>'
});

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-exp:panel',
  description: 'Experiments of the repository in the file browser: sort, apply, branch, remove, compare, queue.',
  autoStart: true,
  requires: [IDefaultFileBrowser],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    browser: IDefaultFileBrowser,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    let pages = 0;
    const panel = new ExperimentsPanel({
      currentPath: () => browser.model.path,
      openPage: (title, html, diff) => {
        const widget = comparePage(title, html, diff, experimentsIcon);
        widget.id = `jupyter-exp-compare-${++pages}`;
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      }
    });
    panel.id = PANEL_ID;
    panel.title.icon = experimentsIcon;
    panel.title.caption = 'Experiments';
    browser.model.pathChanged.connect(() => panel.onPathChanged());
    app.shell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, PANEL_ID);

    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Experiments: Open panel',
      caption: 'Show the experiments of the repository in the file browser',
      icon: experimentsIcon,
      execute: () => app.shell.activateById(PANEL_ID)
    });
    palette?.addItem({ command: OPEN_COMMAND, category: 'Experiments' });
  }
};

export default plugin;
