/**
 * Try the current model: drop or pick an image, or capture one from the webcam; the top classes
 * come back as bars, and an image unlike the training images is flagged in plain words.
 */
import type { Prediction } from './api.js';
import { announce, h, percent, replace, uid } from './dom.js';
import { dropZone } from './files.js';
import { webcam } from './webcam.js';
import type { Workspace } from './workspace.js';

export class TryIt {
  readonly element: HTMLElement;
  private readonly output: HTMLElement;
  private readonly preview: HTMLImageElement;
  private previewUrl: string | undefined;

  constructor(private readonly ws: Workspace) {
    const id = uid('try');
    const inputId = uid('try-input');
    this.output = h('div', { class: 'prediction', role: 'status', 'aria-live': 'polite', 'data-testid': 'prediction' });
    this.preview = h('img', { class: 'preview', alt: 'The image being classified', hidden: true, width: 160 });
    const input = h('input', { id: inputId, type: 'file', accept: 'image/*', class: 'file-input' });
    input.addEventListener('change', () => {
      const file = input.files?.[0];
      if (file) void this.predict(file);
      input.value = '';
    });
    const camera = webcam('the model', (file) => void this.predict(file));
    const zone = h(
      'div',
      { class: 'dropzone try-zone', 'data-testid': 'try-drop' },
      'Drop an image here to classify it, or ',
      h('label', { for: inputId, class: 'button' }, 'choose an image to classify'),
      input,
      h('button', { type: 'button', onclick: () => void camera.open() }, 'Use the webcam'),
    );
    dropZone(zone, (files) => {
      const first = files[0];
      if (first) void this.predict(first.file);
    });
    this.element = h('section', { 'aria-labelledby': id }, h('h3', { id }, 'Try it'), zone, camera.element, h('div', { class: 'row try-result' }, this.preview, this.output));
  }

  private async predict(image: File): Promise<void> {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = URL.createObjectURL(image);
    this.preview.src = this.previewUrl;
    this.preview.hidden = false;
    replace(this.output, h('p', {}, `Classifying ${image.name}...`));
    let result: Prediction;
    try {
      result = await this.ws.api.predict(this.ws.dataset, image);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      replace(this.output, h('p', { class: 'error' }, `Could not classify ${image.name}: ${message}`));
      announce(message, true);
      return;
    }
    replace(
      this.output,
      h('p', { class: 'top-class' }, h('strong', {}, result.label), ` (${percent(result.probability)})`),
      result.outOfDomain
        ? h('p', { class: 'ood', 'data-testid': 'ood' }, `Warning: this image looks unlike the training images (out-of-domain score ${result.oodScore.toFixed(3)}), so the answer above may mean little.`)
        : h('p', { class: 'in-domain' }, `Looks like the training images (out-of-domain score ${result.oodScore.toFixed(3)}).`),
      h(
        'ul',
        { class: 'bars', 'aria-label': 'Top classes' },
        ...result.top.map((t) =>
          h(
            'li',
            {},
            h('span', { class: 'bar-label' }, t.label),
            h('progress', { max: 1, value: t.probability, 'aria-label': `${t.label} probability` }),
            h('span', { class: 'bar-value' }, percent(t.probability)),
          ),
        ),
      ),
      h('p', { class: 'hint' }, `Model ${result.model}.`),
    );
  }
}
