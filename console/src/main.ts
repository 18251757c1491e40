/**
 * The console's entry: where the API is (this server, or ?api=<url> with a JWT for a deployed
 * one), the datasets list and the new-dataset form, and one Workspace for the open dataset.
 */
import { Api } from './api.js';
import { announce, byId, h, replace } from './dom.js';
import { Workspace } from './workspace.js';

const TOKEN_KEY = 'headstart.token';

function connection(): Api {
  const params = new URLSearchParams(location.search);
  const base = params.get('api') ?? location.origin;
  // The token lives in this tab's session only; it is never put in the URL.
  const token = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  (byId<HTMLInputElement>('api-base')).value = base;
  return new Api(base, token);
}

let api = connection();
let workspace: Workspace | undefined;
/** Datasets created on this page and not uploaded to yet. */
const held = new Set<string>();

function validDatasetName(name: string): string | undefined {
  if (!name) return 'a dataset needs a name';
  if (name.includes('/') || name.includes('\\')) return 'a dataset name cannot contain a slash';
  if (name.startsWith('_')) return "a dataset name cannot start with '_'";
  if (name === '.' || name === '..') return 'that name is a path segment';
  return undefined;
}

async function loadDatasets(): Promise<void> {
  let names: string[] = [];
  try {
    names = (await api.get<{ datasets: string[] }>('/datasets')).datasets;
  } catch (error) {
    announce(`Could not list datasets: ${error instanceof Error ? error.message : String(error)}`, true);
  }
  for (const name of names) held.delete(name);
  const all = [...new Set([...names, ...held])].sort();
  const list = byId('dataset-list');
  replace(
    list,
    ...all.map((name) =>
      h(
        'li',
        {},
        h('button', { type: 'button', 'aria-current': workspace?.dataset === name ? 'true' : 'false', onclick: () => void openDataset(name) }, name + (held.has(name) ? ' (new)' : '')),
      ),
    ),
  );
  if (all.length === 0) replace(list, h('li', { class: 'hint' }, 'No datasets yet: create one.'));
  document.body.dataset['ready'] = 'true';
}

async function openDataset(name: string): Promise<void> {
  workspace?.close();
  workspace = new Workspace(api, name, () => void loadDatasets());
  const host = byId('workspace');
  replace(host, workspace.element);
  host.hidden = false;
  history.replaceState(null, '', `${location.pathname}${location.search}#dataset=${encodeURIComponent(name)}`);
  workspace.element.querySelector('h2')?.setAttribute('tabindex', '-1');
  workspace.element.querySelector<HTMLElement>('h2')?.focus();
  await loadDatasets();
  await workspace.start();
}

byId<HTMLFormElement>('create-dataset').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>('new-dataset');
  const name = input.value.trim().normalize('NFC');
  const problem = validDatasetName(name);
  if (problem) {
    input.setCustomValidity(problem);
    input.reportValidity();
    announce(problem, true);
    return;
  }
  input.setCustomValidity('');
  input.value = '';
  held.add(name);
  announce(`Dataset ${name} created on this page; add a label and images to keep it`);
  void openDataset(name);
});
byId<HTMLInputElement>('new-dataset').addEventListener('input', (event) => (event.target as HTMLInputElement).setCustomValidity(''));

byId<HTMLFormElement>('connection-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const base = byId<HTMLInputElement>('api-base').value.trim();
  const token = byId<HTMLInputElement>('api-token').value.trim();
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  const url = new URL(location.href);
  if (base && base !== location.origin) url.searchParams.set('api', base);
  else url.searchParams.delete('api');
  location.assign(url.toString());
});

const start = new URLSearchParams(location.hash.slice(1)).get('dataset');
void loadDatasets().then(() => (start ? openDataset(start) : undefined));
