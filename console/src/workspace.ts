/**
 * One dataset's page: its labels and images, uploads with their progress, extraction progress by
 * polling GET /datasets/{name}, and the model sections (model.ts, tryit.ts).
 */
import { ApiError, labelPath, type Api, type DatasetStatus, type LabelSummary, type UploadGrant } from './api.js';
import { announce, h, percent, replace, uid } from './dom.js';
import { dropZone } from './files.js';
import { LabelCard, type LabelCounts } from './labels.js';
import { ModelPanel } from './model.js';
import { TryIt } from './tryit.js';

const FAST_POLL_MS = 1000;
const IDLE_POLL_MS = 5000;
const GRANT_BATCH = 100;
const PARALLEL_UPLOADS = 4;

interface UploadRow {
  key: string | undefined;
  status: HTMLElement;
  progress: HTMLProgressElement;
  state: 'uploading' | 'extracting' | 'done' | 'refused';
}

export class Workspace {
  readonly element: HTMLElement;
  status: DatasetStatus | undefined;
  private readonly cards = new Map<string, LabelCard>();
  /** Labels created on this page that have no image yet (the server holds no empty labels). */
  private readonly heldLabels = new Set<string>();
  private readonly cardList: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly extraction: HTMLElement;
  private readonly extractionBar: HTMLProgressElement;
  private readonly uploadList: HTMLElement;
  private readonly rows: UploadRow[] = [];
  private readonly model: ModelPanel;
  private readonly tryIt: TryIt;
  private uploadsInFlight = 0;
  private timer: number | undefined;
  private closed = false;

  constructor(
    readonly api: Api,
    readonly dataset: string,
    private readonly onDatasetsChanged: () => void,
  ) {
    const headingId = uid('ws');
    const labelInput = uid('label-input');
    this.summary = h('p', { class: 'summary', 'data-testid': 'summary' });
    this.extraction = h('p', { id: uid('extraction'), class: 'extraction', role: 'status', 'aria-live': 'polite' });
    this.extractionBar = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Extraction progress' });
    this.uploadList = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });
    this.cardList = h('div', { class: 'cards' });
    const addLabel = h(
      'form',
      { class: 'row' },
      h('label', { for: labelInput }, 'New label'),
      h('input', { id: labelInput, name: 'label', required: true, autocomplete: 'off', placeholder: 'e.g. ants' }),
      h('button', { type: 'submit' }, 'Add label'),
    );
    addLabel.addEventListener('submit', (event) => {
      event.preventDefault();
      const input = addLabel.elements.namedItem('label') as HTMLInputElement;
      const name = input.value.trim().normalize('NFC');
      if (!name) return;
      if (name.includes('/') || name.includes('\\')) {
        announce(`Label "${name}" cannot contain a slash`, true);
        return;
      }
      this.heldLabels.add(name);
      input.value = '';
      this.render();
      // The file input itself (visually hidden, shown through its label's focus ring) takes focus: a label cannot.
      this.cards.get(name)?.element.querySelector<HTMLElement>('input[type=file]')?.focus();
      announce(`Label ${name} added; it is kept on this page until its first image is uploaded`);
    });
    const datasetDrop = h('div', { class: 'dropzone', tabindex: '-1' }, 'Drop folders here: each folder becomes a label (e.g. ants/, bees/).');
    dropZone(datasetDrop, (files) => {
      const withFolder = files.filter((f) => f.folder !== undefined);
      if (withFolder.length < files.length) announce('Files dropped outside a folder have no label: drop them on a label card', true);
      void this.upload(withFolder.map((f) => ({ label: f.folder as string, file: f.file })));
    });
    this.model = new ModelPanel(this);
    this.tryIt = new TryIt(this);
    this.element = h(
      'section',
      { class: 'workspace', 'aria-labelledby': headingId },
      h('h2', { id: headingId }, `Dataset ${dataset}`),
      this.summary,
      h(
        'section',
        { 'aria-labelledby': `${headingId}-images` },
        h('h3', { id: `${headingId}-images` }, 'Labels and images'),
        addLabel,
        datasetDrop,
        this.extraction,
        this.extractionBar,
        this.uploadList,
        this.cardList,
      ),
      this.model.element,
      this.tryIt.element,
    );
  }

  async start(): Promise<void> {
    await this.poll();
    await this.model.refresh();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) window.clearTimeout(this.timer);
  }

  /** Runs an action that changes images, says how it went, and refreshes the page's data. */
  async act(done: string, action: () => Promise<void>): Promise<boolean> {
    try {
      await action();
      announce(done);
      return true;
    } catch (error) {
      announce(error instanceof Error ? error.message : String(error), true);
      return false;
    } finally {
      await this.poll();
    }
  }

  moveImage(from: string, file: string, to: string): Promise<unknown> {
    return this.api.post(`${labelPath(this.dataset, from)}/objects/${encodeURIComponent(file)}/move`, { label: to });
  }

  async removeLabel(label: string): Promise<void> {
    this.heldLabels.delete(label);
    const stored = (this.status?.labels[label] ?? 0) > 0 || this.cards.has(label);
    if (!stored) {
      this.render();
      return;
    }
    await this.act(`Removed label ${label}`, async () => {
      try {
        await this.api.del(labelPath(this.dataset, label));
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 'label_not_found')) throw error;
      }
    });
  }

  /** Asks where each file goes, then sends them, a few at a time, with a progress bar each. */
  async upload(files: { label: string; file: File }[]): Promise<void> {
    if (files.length === 0) return;
    for (const { label } of files) this.heldLabels.add(label);
    this.render();
    this.uploadsInFlight += files.length;
    announce(`Uploading ${files.length} file(s)`);
    const work: { grant: UploadGrant; file: File; row: UploadRow }[] = [];
    for (let i = 0; i < files.length; i += GRANT_BATCH) {
      const batch = files.slice(i, i + GRANT_BATCH);
      let grants: UploadGrant[];
      try {
        ({ uploads: grants } = await this.api.post<{ uploads: UploadGrant[] }>(`/datasets/${encodeURIComponent(this.dataset)}/uploads`, {
          files: batch.map(({ label, file }) => ({ label, file: file.name, contentType: file.type || 'application/octet-stream' })),
        }));
      } catch (error) {
        grants = batch.map(({ label, file }) => ({ label, file: file.name, error: error instanceof Error ? error.message : String(error), code: 'upload_refused' }));
      }
      grants.forEach((grant, j) => {
        const item = batch[j] as { label: string; file: File };
        const row = this.uploadRow(item.label, item.file.name, grant.key);
        if (grant.error !== undefined) {
          this.finishRow(row, 'refused', `refused: ${grant.error}`);
          this.uploadsInFlight--;
        } else {
          work.push({ grant, file: item.file, row });
        }
      });
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < work.length; i = next++) {
        const { grant, file, row } = work[i] as (typeof work)[number];
        try {
          await this.api.upload(grant, file, (fraction) => {
            row.progress.value = fraction;
            row.status.textContent = `uploading ${Math.round(fraction * 100)}%`;
          });
          row.state = 'extracting';
          row.status.textContent = 'uploaded, waiting for extraction';
        } catch (error) {
          this.finishRow(row, 'refused', `upload failed: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          this.uploadsInFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_UPLOADS }, worker));
    this.onDatasetsChanged();
    await this.poll();
  }

  private uploadRow(label: string, file: string, key: string | undefined): UploadRow {
    const progress = h('progress', { max: 1, value: 0, 'aria-label': `Upload of ${file}` });
    const status = h('span', { class: 'upload-status' }, 'waiting');
    this.uploadList.prepend(h('li', { 'data-file': file }, h('span', { class: 'file' }, `${label}/${file}`), progress, status));
    const row: UploadRow = { key, status, progress, state: 'uploading' };
    this.rows.push(row);
    return row;
  }

  private finishRow(row: UploadRow, state: 'done' | 'refused', text: string): void {
    row.state = state;
    row.status.textContent = text;
    row.status.classList.toggle('error', state === 'refused');
    row.progress.value = 1;
  }

  /** Reads the status and labels, updates every card, and schedules the next poll. */
  async poll(): Promise<void> {
    if (this.timer !== undefined) window.clearTimeout(this.timer);
    this.timer = undefined;
    let labels: LabelSummary[] = [];
    try {
      [this.status, labels] = await Promise.all([
        this.api.get<DatasetStatus>(`/datasets/${encodeURIComponent(this.dataset)}`),
        this.api.get<{ labels: LabelSummary[] }>(`/datasets/${encodeURIComponent(this.dataset)}/labels`).then((r) => r.labels),
      ]);
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'dataset_not_found')) {
        announce(error instanceof Error ? error.message : String(error), true);
      }
      this.status = undefined;
    }
    if (this.closed) return;
    this.render(labels);
    const busy = this.pendingNow > 0 || this.uploadsInFlight > 0 || this.model.busy;
    this.timer = window.setTimeout(() => void this.poll(), busy ? FAST_POLL_MS : IDLE_POLL_MS);
  }

  private lastLabels: LabelSummary[] = [];
  private pendingNow = 0;

  private render(labels: LabelSummary[] = this.lastLabels): void {
    this.lastLabels = labels;
    const status = this.status;
    for (const { label } of labels) this.heldLabels.delete(label);
    const names = [...new Set([...labels.map((l) => l.label), ...this.heldLabels])].sort();
    const failures = new Map<string, Map<string, string>>();
    for (const failure of status?.failures ?? []) {
      const label = failure.key.split('/')[2] ?? '';
      if (!failures.has(label)) failures.set(label, new Map());
      failures.get(label)?.set(failure.key, failure.error);
    }
    for (const [label, card] of this.cards) {
      if (!names.includes(label)) {
        card.element.remove();
        this.cards.delete(label);
      }
    }
    for (const label of names) {
      let card = this.cards.get(label);
      if (card === undefined) {
        card = new LabelCard(this, label);
        this.cards.set(label, card);
      }
      const stored = labels.find((l) => l.label === label)?.objects ?? 0;
      const counts: LabelCounts = { objects: stored, ready: status?.labels[label] ?? 0, failures: failures.get(label) ?? new Map() };
      card.update(counts, names);
    }
    // Keep the cards in label order without re-creating them (focus stays where it is).
    names.forEach((label, index) => {
      const element = this.cards.get(label)?.element;
      if (element && this.cardList.children[index] !== element) this.cardList.insertBefore(element, this.cardList.children[index] ?? null);
    });
    if (names.length === 0) replace(this.cardList, h('p', { class: 'hint' }, 'No labels yet: add one above, or drop a folder per label.'));
    else this.cardList.querySelector(':scope > p.hint')?.remove();

    // Objects not yet embedded nor refused: the stored count tells, where the server cannot (on AWS,
    // SQS does not count per dataset and the status says 0 pending).
    const stored = labels.reduce((sum, l) => sum + l.objects, 0);
    const refusedCount = status?.refused ?? status?.failures.length ?? 0;
    const pending = Math.max(status?.pending ?? 0, stored - (status?.images ?? 0) - refusedCount);
    const model = status?.model;
    this.summary.textContent = status
      ? `${status.images} images ready in ${Object.keys(status.labels).length} labels, ${pending} waiting, ${refusedCount} refused. ` +
        (model ? `Current model ${model.version}: validation accuracy ${percent(model.accuracy)}.` : 'No model yet.')
      : 'New dataset: it is created with its first upload.';
    // Extraction progress over this page's uploads: how many of them are done.
    const failedKeys = new Set((status?.failures ?? []).map((f) => f.key));
    for (const row of this.rows) {
      if (row.state !== 'extracting' || row.key === undefined) continue;
      if (failedKeys.has(row.key)) this.finishRow(row, 'refused', `refused: ${status?.failures.find((f) => f.key === row.key)?.error ?? ''}`);
      else if (pending === 0 && this.uploadsInFlight === 0) this.finishRow(row, 'done', 'ready');
    }
    const sent = this.rows.filter((r) => r.state !== 'uploading').length;
    const waiting = this.rows.filter((r) => r.state === 'extracting').length;
    if (pending > 0 || waiting > 0) {
      this.extraction.textContent = `Extracting: ${pending} example(s) waiting`;
      this.extractionBar.hidden = false;
      this.extractionBar.max = Math.max(1, sent);
      this.extractionBar.value = Math.max(0, sent - waiting);
    } else if (this.rows.length > 0) {
      const refused = this.rows.filter((r) => r.state === 'refused').length;
      this.extraction.textContent = `Extraction done: ${this.rows.length - refused} ready, ${refused} refused`;
      this.extractionBar.hidden = true;
    }
    this.pendingNow = pending;
    this.model.updateStatus(status, names);
  }
}
