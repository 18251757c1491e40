/**
 * The model half of a dataset's page: Train (job progress and result), does pretraining help
 * (the verdict in words and numbers, before and after training), the misclassified images with
 * "move to label" and "remove", the report inline, and the versions with promote and rollback.
 */
import { ApiError, labelPath, type Assessment, type DatasetStatus, type Job, type MisclassifiedItem, type VersionRow } from './api.js';
import { announce, h, percent, replace, setText, uid } from './dom.js';
import type { Workspace } from './workspace.js';

const JOB_POLL_MS = 1000;

function points(gain: number): string {
  return `${gain >= 0 ? '+' : ''}${(gain * 100).toFixed(1)} points`;
}

function verdictWords(verdict: string): string {
  if (verdict === 'helps') return 'Pretraining helps';
  if (verdict === 'helps little') return 'Pretraining helps a little';
  return 'Pretraining does not help';
}

export class ModelPanel {
  readonly element: HTMLElement;
  busy = false;
  private readonly trainButton: HTMLButtonElement;
  private readonly jobStatus: HTMLElement;
  private readonly result: HTMLElement;
  private readonly verdictBefore: HTMLElement;
  private readonly verdictAfter: HTMLElement;
  private readonly mistakes: HTMLElement;
  private readonly mistakesHeading: HTMLElement;
  private readonly mistakesHint: HTMLElement;
  private readonly report: HTMLIFrameElement;
  private readonly reportNote: HTMLElement;
  private readonly versions: HTMLElement;
  private readonly rollbackButton: HTMLButtonElement;
  private labels: string[] = [];
  private current: Assessment | null = null;
  private shownVersion: string | null = null;

  constructor(private readonly ws: Workspace) {
    const id = uid('model');
    this.trainButton = h('button', { type: 'button', class: 'primary', onclick: () => void this.train() }, 'Train');
    this.jobStatus = h('p', { class: 'job', role: 'status', 'aria-live': 'polite', 'data-testid': 'job-status' });
    this.result = h('p', { class: 'result', 'data-testid': 'train-result' });
    this.verdictBefore = h('div', { class: 'verdict', 'data-testid': 'verdict-before' });
    this.verdictAfter = h('div', { class: 'verdict', 'data-testid': 'verdict-after' });
    this.mistakes = h('ul', { class: 'mistakes', 'aria-label': 'Misclassified validation images' });
    this.mistakesHeading = h('h3', { id: `${id}-fix` }, 'Misclassified images');
    this.mistakesHint = h('p', { class: 'hint' }, 'Validation images the model got wrong out-of-fold: move a mislabelled one, remove a bad one, then train again.');
    this.report = h('iframe', { title: 'Model report', sandbox: '', class: 'report' });
    this.reportNote = h('p', { class: 'hint' });
    this.versions = h('div', { class: 'versions' });
    this.rollbackButton = h('button', { type: 'button', onclick: () => void this.rollback() }, 'Roll back to the previous version');
    this.element = h(
      'div',
      { class: 'model' },
      h(
        'section',
        { 'aria-labelledby': `${id}-train` },
        h('h3', { id: `${id}-train` }, 'Train'),
        h('p', { class: 'hint' }, 'Trains a small head on the embedded images, measures whether pretraining helps, and makes the new version current.'),
        this.trainButton,
        this.jobStatus,
        this.result,
        h('h4', {}, 'Does pretraining help?'),
        h('div', { class: 'verdicts' }, this.verdictBefore, this.verdictAfter),
      ),
      h(
        'section',
        { 'aria-labelledby': `${id}-fix` },
        this.mistakesHeading,
        this.mistakesHint,
        this.mistakes,
      ),
      h('section', { 'aria-labelledby': `${id}-report` }, h('h3', { id: `${id}-report` }, 'Report'), this.reportNote, this.report),
      h('section', { 'aria-labelledby': `${id}-versions` }, h('h3', { id: `${id}-versions` }, 'Versions'), this.versions, this.rollbackButton),
    );
    this.renderVerdict(this.verdictBefore, 'Before training', null);
    this.renderVerdict(this.verdictAfter, 'After training', null);
  }

  /** Called on every poll: enables Train when there is something to train on. */
  updateStatus(status: DatasetStatus | undefined, labels: string[]): void {
    this.labels = labels;
    const ready = Object.values(status?.labels ?? {}).filter((n) => n > 0).length;
    this.trainButton.disabled = this.busy || ready < 2;
    this.trainButton.title = ready < 2 ? 'Training needs images in at least two labels' : '';
    if (status?.model && status.model.version !== this.shownVersion) void this.refresh();
  }

  /** Reloads what depends on the current version: verdict, mistakes, report, versions. */
  async refresh(): Promise<void> {
    const ds = encodeURIComponent(this.ws.dataset);
    const [models, assessment] = await Promise.all([
      this.ws.api.get<{ current: string | null; models: VersionRow[] }>(`/datasets/${ds}/models`).catch(() => ({ current: null, models: [] })),
      this.ws.api.get<Assessment>(`/datasets/${ds}/assessment`).catch(() => null),
    ]);
    this.shownVersion = models.current;
    this.current = assessment;
    this.renderVersions(models.current, models.models);
    if (models.current === null) {
      this.reportNote.textContent = 'No model yet: train to see its report.';
      this.report.hidden = true;
      replace(this.mistakes, h('li', { class: 'hint' }, 'No model yet.'));
      return;
    }
    const currentRow = models.models.find((m) => m.version === models.current);
    if (currentRow && !this.busy) setText(this.result, `Current model ${currentRow.version}: validation accuracy ${percent(currentRow.accuracy)}, macro-F1 ${currentRow.macroF1.toFixed(3)}.`);
    if (this.verdictAfter.dataset['version'] !== models.current) this.renderVerdict(this.verdictAfter, 'Current model', assessment);
    const [report, mistakes] = await Promise.all([
      this.ws.api.text(`/datasets/${ds}/report`).catch((e: unknown) => (e instanceof Error ? e.message : String(e))),
      this.ws.api.get<{ total: number; items: MisclassifiedItem[] }>(`/datasets/${ds}/misclassified`).catch(() => ({ total: 0, items: [] })),
    ]);
    // srcdoc in a sandbox with no permissions: the report runs no script and has no origin.
    this.report.srcdoc = report;
    this.report.hidden = false;
    this.reportNote.textContent = `Report of version ${models.current}.`;
    this.renderMistakes(mistakes.total, mistakes.items);
  }

  private renderVerdict(box: HTMLElement, title: string, a: Assessment | null): void {
    box.dataset['version'] = a?.version ?? '';
    if (a === null) {
      replace(box, h('h5', {}, title), h('p', {}, 'Not measured yet: training measures it.'));
      return;
    }
    const best = a.backbones.find((b) => b.id === a.chosen) ?? a.backbones[0];
    replace(
      box,
      h('h5', {}, `${title} (${a.version})`),
      h('p', { class: `verdict-words verdict-${a.verdict.replace(/\s+/g, '-')}` }, `${verdictWords(a.verdict)}: ${points(a.gain)}${a.confident ? '' : ' (not certain)'}`),
      h(
        'dl',
        {},
        h('dt', {}, 'With pretraining (linear probe)'),
        h('dd', {}, best ? percent(best.probeAccuracy) : 'n/a'),
        h('dt', {}, a.baseline === 'tfidf' ? 'Without (same head on TF-IDF n-grams)' : 'Without (same head on raw pixels)'),
        h('dd', {}, percent(a.baselineAccuracy)),
        h('dt', {}, 'Gain, 95% interval'),
        h('dd', {}, `${points(a.gain)} (${points(a.gainInterval[0])} to ${points(a.gainInterval[1])})`),
      ),
      h('p', { class: 'hint' }, a.explanation),
    );
  }

  private renderMistakes(total: number, items: MisclassifiedItem[]): void {
    const live = items.filter((i) => i.exists);
    // A text dataset's mistakes carry their text where images have a thumbnail.
    const noun = items.some((i) => i.text !== undefined) ? 'texts' : 'images';
    setText(this.mistakesHeading, `Misclassified ${noun}`);
    setText(this.mistakesHint, `Validation ${noun} the model got wrong out-of-fold: move a mislabelled one, remove a bad one, then train again.`);
    this.mistakes.setAttribute('aria-label', `Misclassified validation ${noun}`);
    if (total === 0) {
      replace(this.mistakes, h('li', { class: 'hint' }, 'None: every validation example was predicted right.'));
      return;
    }
    replace(
      this.mistakes,
      ...live.map((item) => {
        const file = item.key.slice(item.key.lastIndexOf('/') + 1);
        const selectId = uid('move');
        const select = h('select', { id: selectId }, ...this.labels.filter((l) => l !== item.trueLabel).map((l) => h('option', { value: l, selected: l === item.predictedLabel }, l)));
        return h(
          'li',
          { class: item.text !== undefined ? 'mistake text' : 'mistake' },
          item.text !== undefined ? h('blockquote', { class: 'mistake-text' }, item.text ?? '(no longer a readable text)') : item.thumbnail ? h('img', { src: item.thumbnail, alt: file, width: 96, height: 96 }) : null,
          h('p', {}, h('span', { class: 'file' }, file), ` labelled ${item.trueLabel}, predicted ${item.predictedLabel} (${percent(item.probability)})`),
          h(
            'div',
            { class: 'row' },
            h('label', { for: selectId }, `Move ${file} to label`),
            select,
            h('button', { type: 'button', onclick: () => void this.ws.act(`Moved ${file} to ${select.value}`, async () => void (await this.ws.moveImage(item.trueLabel, file, select.value))).then(() => this.refresh()) }, 'Move'),
            h(
              'button',
              { type: 'button', class: 'danger', onclick: () => void this.ws.act(`Removed ${file}`, async () => void (await this.ws.api.del(`${labelPath(this.ws.dataset, item.trueLabel)}/objects/${encodeURIComponent(file)}`))).then(() => this.refresh()) },
              `Remove ${file}`,
            ),
          ),
        );
      }),
      total > live.length ? h('li', { class: 'hint' }, `${total - live.length} more not shown (moved, removed, or beyond the first ${items.length}).`) : null,
    );
  }

  private renderVersions(current: string | null, rows: VersionRow[]): void {
    this.rollbackButton.disabled = rows.length < 2;
    if (rows.length === 0) {
      replace(this.versions, h('p', { class: 'hint' }, 'No versions yet.'));
      return;
    }
    replace(
      this.versions,
      h(
        'table',
        {},
        h('caption', { class: 'visually-hidden' }, 'Model versions, newest first'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Version'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'Labels'), h('th', { scope: 'col' }, 'Accuracy'), h('th', { scope: 'col' }, 'Macro-F1'), h('th', { scope: 'col' }, 'State'))),
        h(
          'tbody',
          {},
          ...[...rows].reverse().map((row) =>
            h(
              'tr',
              { 'data-version': row.version, class: row.version === current ? 'current' : '' },
              h('th', { scope: 'row' }, row.version),
              h('td', {}, new Date(row.createdAt).toLocaleString()),
              h('td', {}, row.labels.join(', ')),
              h('td', {}, percent(row.accuracy)),
              h('td', {}, row.macroF1.toFixed(3)),
              h('td', {}, row.version === current ? 'current' : h('button', { type: 'button', onclick: () => void this.promote(row.version) }, `Promote ${row.version}`)),
            ),
          ),
        ),
      ),
    );
  }

  private async promote(version: string): Promise<void> {
    try {
      await this.ws.api.post(`/datasets/${encodeURIComponent(this.ws.dataset)}/promote`, { version });
      announce(`Version ${version} is current`);
    } catch (error) {
      announce(error instanceof Error ? error.message : String(error), true);
    }
    await this.refresh();
    await this.ws.poll();
  }

  private async rollback(): Promise<void> {
    try {
      const answer = await this.ws.api.post<{ current: string }>(`/datasets/${encodeURIComponent(this.ws.dataset)}/rollback`);
      announce(`Rolled back: version ${answer.current} is current`);
    } catch (error) {
      announce(error instanceof Error ? error.message : String(error), true);
    }
    await this.refresh();
    await this.ws.poll();
  }

  private async train(): Promise<void> {
    this.busy = true;
    this.trainButton.disabled = true;
    setText(this.jobStatus, 'Starting training...');
    const before = this.current;
    this.renderVerdict(this.verdictBefore, 'Before training', before);
    const started = Date.now();
    try {
      const job = await this.ws.api.post<Job & { jobId: string }>(`/datasets/${encodeURIComponent(this.ws.dataset)}/train`);
      setText(this.jobStatus, `Training job ${job.jobId}: ${job.status}`);
      let state: Job = job;
      while (state.status === 'queued' || state.status === 'running') {
        await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
        state = await this.ws.api.get<Job>(`/jobs/${encodeURIComponent(job.jobId)}`);
        this.jobStatus.textContent = `Training job ${job.jobId}: ${state.status} (${Math.round((Date.now() - started) / 1000)} s)`;
      }
      if (state.status === 'failed') {
        setText(this.jobStatus, `Training failed: ${state.error ?? 'no reason given'}`);
        announce(`Training failed: ${state.error ?? ''}`, true);
        return;
      }
      setText(this.jobStatus, `Training done in ${Math.round((Date.now() - started) / 1000)} s: version ${state.version ?? '?'}`);
      this.busy = false;
      await this.refresh();
      this.renderVerdict(this.verdictAfter, 'After training', this.current);
      const row = this.result.textContent ?? '';
      announce(`Training done. ${row}`);
    } catch (error) {
      const message = error instanceof ApiError ? error.message : String(error);
      setText(this.jobStatus, `Training could not start: ${message}`);
      announce(message, true);
    } finally {
      this.busy = false;
      await this.ws.poll();
    }
  }
}
