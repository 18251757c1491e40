/**
 * One webcam, opened on request: a live preview and a capture button that hands over a JPEG.
 * getUserMedia works on 127.0.0.1 and https origins (secure contexts) only.
 */
import { h } from './dom.js';

export interface Webcam {
  element: HTMLElement;
  open(): Promise<void>;
  close(): void;
}

export function webcam(label: string, onCapture: (image: File) => void): Webcam {
  const video = h('video', { autoplay: true, muted: true, playsinline: true, 'aria-label': `${label}: camera preview`, width: 240, height: 180 });
  const status = h('p', { class: 'hint', role: 'status' });
  const capture = h('button', { type: 'button', disabled: true }, `Capture for ${label}`);
  const stop = h('button', { type: 'button', disabled: true }, 'Close camera');
  const element = h('div', { class: 'webcam', hidden: true }, video, h('div', { class: 'row' }, capture, stop), status);
  let stream: MediaStream | undefined;

  capture.addEventListener('click', () => {
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth || 640;
    canvas.height = video.videoHeight || 480;
    canvas.getContext('2d')?.drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => {
      if (blob === null) return;
      const name = `webcam-${new Date().toISOString().replace(/[:.]/g, '-')}.jpg`;
      onCapture(new File([blob], name, { type: 'image/jpeg' }));
      status.textContent = `Captured ${name}`;
    }, 'image/jpeg', 0.9);
  });
  const close = (): void => {
    for (const track of stream?.getTracks() ?? []) track.stop();
    stream = undefined;
    video.srcObject = null;
    element.hidden = true;
    capture.disabled = true;
    stop.disabled = true;
  };
  stop.addEventListener('click', close);

  return {
    element,
    close,
    async open() {
      element.hidden = false;
      if (!navigator.mediaDevices?.getUserMedia) {
        status.textContent = 'This browser gives no camera access here (it needs https or 127.0.0.1).';
        return;
      }
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
        video.srcObject = stream;
        capture.disabled = false;
        stop.disabled = false;
        capture.focus();
      } catch (error) {
        status.textContent = `No camera: ${error instanceof Error ? error.message : String(error)}`;
      }
    },
  };
}
