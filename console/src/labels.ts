/**
 * One card per label: its counts (ready, waiting, refused with reasons), thumbnails (or a text's
 * start) a page at a time, and the actions on it: add examples, images or .txt texts (picker, drop
 * of files or folders, webcam), select examples to move to another label or remove, remove the
 * whole label. The words say "examples": a card does not know yet whether its dataset is images or texts.
 */
import { labelPath, type ObjectItem, type ObjectsPage } from './api.js';
import { h, replace, uid } from './dom.js';
import { dropZone, pickedFiles, type PickedFile } from './files.js';
import type { Workspace } from './workspace.js';
import { webcam } from './webcam.js';

export interface LabelCounts {
  /** Objects stored under the label. */
  objects: number;
  /** Embedded images (the status's count). */
  ready: number;
  /** Refused files of this label: key -> reason. */
  failures: Map<string, string>;
}

const PAGE = 24;

export class LabelCard {
  readonly element: HTMLElement;
  private readonly counts: HTMLElement;
  private readonly failureList: HTMLElement;
  private readonly grid: HTMLElement;
  private readonly more: HTMLButtonElement;
  private readonly moveTarget: HTMLSelectElement;
  private readonly moveButton: HTMLButtonElement;
  private readonly removeButton: HTMLButtonElement;
  private readonly selected = new Set<string>();
  private items: ObjectItem[] = [];
  private next: string | null = null;
  /** What the grid was last loaded for: reload when the label's objects change. */
  private loadedFor = '';
  private failures = new Map<string, string>();

  constructor(
    private readonly ws: Workspace,
    readonly label: string,
  ) {
    const headingId = uid('label');
    const inputId = uid('add');
    this.counts = h('p', { class: 'counts' });
    this.failureList = h('ul', { class: 'failures', 'aria-label': `Refused files in ${label}` });
    this.grid = h('ul', { class: 'thumbs', 'aria-label': `Examples in ${label}` });
    this.more = h('button', { type: 'button', hidden: true, onclick: () => void this.loadMore() }, 'Show more');
    this.moveTarget = h('select', { 'aria-label': `Label to move the selected ${label} examples to` });
    this.moveButton = h('button', { type: 'button', disabled: true, onclick: () => void this.moveSelected() }, 'Move selected');
    this.removeButton = h('button', { type: 'button', disabled: true, class: 'danger', onclick: () => void this.removeSelected() }, 'Remove selected');
    // .txt files are text examples (a text dataset's), uploaded like images.
    const input = h('input', { id: inputId, type: 'file', multiple: true, accept: 'image/*,.txt,text/plain', class: 'file-input' });
    input.addEventListener('change', () => {
      this.add(pickedFiles(input.files));
      input.value = '';
    });
    const camera = webcam(label, (file) => this.add([{ folder: undefined, file }]));
    this.element = h(
      'article',
      { class: 'card', 'aria-labelledby': headingId, 'data-label': label },
      h('header', { class: 'card-head' }, h('h3', { id: headingId }, label), this.counts),
      h(
        'div',
        { class: 'row' },
        h('label', { for: inputId, class: 'button' }, `Add examples to ${label}`),
        input,
        h('button', { type: 'button', onclick: () => void camera.open() }, 'Webcam'),
        h('button', { type: 'button', class: 'danger', onclick: () => void this.removeLabel() }, `Remove label ${label}`),
      ),
      camera.element,
      h('p', { class: 'hint' }, 'Or drop images, .txt files or folders on this card.'),
      this.failureList,
      this.grid,
      this.more,
      h('div', { class: 'row selection' }, this.moveTarget, this.moveButton, this.removeButton),
    );
    dropZone(this.element, (files) => this.add(files));
  }

  private add(files: PickedFile[]): void {
    void this.ws.upload(files.map((f) => ({ label: this.label, file: f.file })));
  }

  /** New counts from a poll: the text at once, the thumbnails when the objects changed. */
  update(counts: LabelCounts, labels: string[]): void {
    const waiting = Math.max(0, counts.objects - counts.ready - counts.failures.size);
    this.counts.textContent = `${counts.ready} ready` + (waiting > 0 ? `, ${waiting} waiting for extraction` : '') + (counts.failures.size > 0 ? `, ${counts.failures.size} refused` : '');
    this.failures = counts.failures;
    replace(
      this.failureList,
      ...[...counts.failures].map(([key, reason]) => h('li', {}, h('span', { class: 'file' }, key.slice(key.lastIndexOf('/') + 1)), `: ${reason}`)),
    );
    const others = labels.filter((l) => l !== this.label);
    const current = this.moveTarget.value;
    replace(this.moveTarget, ...others.map((l) => h('option', { value: l, selected: l === current }, l)));
    const signature = `${counts.objects}/${counts.ready}/${counts.failures.size}`;
    if (signature !== this.loadedFor) {
      this.loadedFor = signature;
      void this.reload();
    }
    this.syncButtons();
  }

  private async reload(): Promise<void> {
    const shown = Math.max(PAGE, this.items.length);
    const page = await this.ws.api.get<ObjectsPage>(`${labelPath(this.ws.dataset, this.label)}/objects?limit=${Math.min(shown, 100)}`);
    this.items = page.objects;
    this.next = page.next;
    for (const file of [...this.selected]) if (!this.items.some((i) => i.file === file)) this.selected.delete(file);
    this.renderGrid();
  }

  private async loadMore(): Promise<void> {
    if (this.next === null) return;
    const page = await this.ws.api.get<ObjectsPage>(`${labelPath(this.ws.dataset, this.label)}/objects?limit=${PAGE}&after=${encodeURIComponent(this.next)}`);
    this.items = [...this.items, ...page.objects];
    this.next = page.next;
    this.renderGrid();
  }

  private renderGrid(): void {
    replace(
      this.grid,
      ...this.items.map((item) => {
        const refused = this.failures.get(item.key);
        const picture = item.thumbnail
          ? h('img', { src: item.thumbnail, alt: '', width: 96, height: 96 })
          : h('span', { class: 'no-thumb', 'aria-hidden': 'true' }, 'no preview');
        const button = h(
          'button',
          { type: 'button', class: refused ? 'thumb refused' : 'thumb', 'aria-pressed': this.selected.has(item.file) ? 'true' : 'false', title: refused ? `${item.file}: ${refused}` : item.file },
          picture,
          h('span', { class: 'caption' }, item.file),
          refused ? h('span', { class: 'visually-hidden' }, `, refused: ${refused}`) : null,
        );
        button.addEventListener('click', () => {
          if (this.selected.has(item.file)) this.selected.delete(item.file);
          else this.selected.add(item.file);
          button.setAttribute('aria-pressed', this.selected.has(item.file) ? 'true' : 'false');
          this.syncButtons();
        });
        return h('li', {}, button);
      }),
    );
    this.more.hidden = this.next === null;
  }

  private syncButtons(): void {
    const n = this.selected.size;
    this.removeButton.disabled = n === 0;
    this.moveButton.disabled = n === 0 || this.moveTarget.options.length === 0;
    this.removeButton.textContent = n > 0 ? `Remove ${n} selected` : 'Remove selected';
    this.moveButton.textContent = n > 0 ? `Move ${n} selected` : 'Move selected';
  }

  private async moveSelected(): Promise<void> {
    const to = this.moveTarget.value;
    if (!to) return;
    const files = [...this.selected];
    await this.ws.act(`Moved ${files.length} example(s) from ${this.label} to ${to}`, async () => {
      for (const file of files) await this.ws.moveImage(this.label, file, to);
    });
    this.selected.clear();
  }

  private async removeSelected(): Promise<void> {
    const files = [...this.selected];
    await this.ws.act(`Removed ${files.length} example(s) from ${this.label}`, async () => {
      for (const file of files) await this.ws.api.del(`${labelPath(this.ws.dataset, this.label)}/objects/${encodeURIComponent(file)}`);
    });
    this.selected.clear();
  }

  private async removeLabel(): Promise<void> {
    if (!window.confirm(`Remove label "${this.label}" and all its images?`)) return;
    await this.ws.removeLabel(this.label);
  }
}
