/**
 * The console's only way to the server: the public HTTP API, same-origin when the local server
 * serves the page, or a deployed API (`?api=https://...`) with a JWT sent as a Bearer token.
 */

export interface DatasetStatus {
  dataset: string;
  labels: Record<string, number>;
  images: number;
  pending: number;
  /** Refused objects in all (the failures list may stop short). */
  refused?: number;
  failures: { key: string; error: string; code: string }[];
  model: null | { version: string; createdAt: string; backbone: string; accuracy: number; macroF1: number; labels: string[] };
}
export interface LabelSummary {
  label: string;
  objects: number;
}
export interface ObjectItem {
  file: string;
  key: string;
  size: number;
  etag: string;
  thumbnail: string | null;
}
export interface ObjectsPage {
  total: number;
  objects: ObjectItem[];
  next: string | null;
}
export interface UploadGrant {
  label: string;
  file: string;
  key?: string;
  method?: 'PUT';
  url?: string;
  headers?: Record<string, string>;
  error?: string;
  code?: string;
}
export interface Job {
  id: string;
  dataset: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  version?: string;
  error?: string;
  submittedAt: string;
  updatedAt: string;
}
export interface VersionRow {
  version: string;
  createdAt: string;
  backbone: string;
  labels: string[];
  accuracy: number;
  macroF1: number;
}
export interface Assessment {
  version: string;
  verdict: string;
  explanation: string;
  gain: number;
  gainInterval: [number, number];
  baselineAccuracy: number;
  /** The no-transfer arm: 'tfidf' for texts; pixels for images (absent in older versions). */
  baseline?: string;
  backbones: { id: string; logme: number; probeAccuracy: number }[];
  chosen: string;
  confident: boolean;
}
export interface Prediction {
  label: string;
  probability: number;
  top: { label: string; probability: number }[];
  model: string;
  outOfDomain: boolean;
  oodScore: number;
}
export interface MisclassifiedItem {
  key: string;
  trueLabel: string;
  predictedLabel: string;
  probability: number;
  exists: boolean;
  thumbnail: string | null;
  /** A text example: its start (null when it is no longer a readable text); absent for images. */
  text?: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const enc = encodeURIComponent;

export function labelPath(dataset: string, label: string): string {
  return `/datasets/${enc(dataset)}/labels/${enc(label)}`;
}

export class Api {
  readonly base: URL;

  constructor(
    base: string,
    private readonly token: string | undefined,
  ) {
    this.base = new URL(base.endsWith('/') ? base : `${base}/`);
  }

  url(path: string): URL {
    return new URL(path.replace(/^\//, ''), this.base);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { ...extra, authorization: `Bearer ${this.token}` } : extra;
  }

  private async send(method: string, path: string, body?: BodyInit, contentType?: string): Promise<Response> {
    const response = await fetch(this.url(path), { method, headers: this.headers(contentType ? { 'content-type': contentType } : {}), ...(body === undefined ? {} : { body }) });
    if (!response.ok) {
      let code = 'http_error';
      let message = `${method} ${path} answered ${response.status}`;
      try {
        const parsed = (await response.json()) as { error?: string; code?: string };
        if (parsed.error) message = parsed.error;
        if (parsed.code) code = parsed.code;
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiError(response.status, code, message);
    }
    return response;
  }

  async get<T>(path: string): Promise<T> {
    return (await (await this.send('GET', path)).json()) as T;
  }

  async post<T>(path: string, value?: unknown): Promise<T> {
    const response = value === undefined ? await this.send('POST', path) : await this.send('POST', path, JSON.stringify(value), 'application/json');
    return (await response.json()) as T;
  }

  async del<T>(path: string): Promise<T> {
    return (await (await this.send('DELETE', path)).json()) as T;
  }

  async text(path: string): Promise<string> {
    return (await this.send('GET', path)).text();
  }

  async predict(dataset: string, image: Blob): Promise<Prediction> {
    const type = image.type.startsWith('image/') ? image.type : 'image/jpeg';
    return (await (await this.send('POST', `/datasets/${enc(dataset)}/predict`, image, type)).json()) as Prediction;
  }

  /**
   * PUTs one file where its grant says, reporting progress (fetch cannot report upload progress,
   * XMLHttpRequest can). The token goes only to the API itself, never to a presigned S3 URL.
   */
  upload(grant: UploadGrant, file: Blob, onProgress: (fraction: number) => void): Promise<void> {
    const target = this.url(grant.url ?? '');
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(grant.method ?? 'PUT', target);
      const headers = target.origin === this.base.origin ? this.headers(grant.headers) : (grant.headers ?? {});
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(1);
          resolve();
          return;
        }
        let message = `upload answered ${xhr.status}`;
        let code = 'http_error';
        try {
          const parsed = JSON.parse(xhr.responseText) as { error?: string; code?: string };
          message = parsed.error ?? message;
          code = parsed.code ?? code;
        } catch {
          // S3 answers XML
        }
        reject(new ApiError(xhr.status, code, message));
      };
      xhr.onerror = () => reject(new ApiError(0, 'network_error', `could not reach ${target.origin}`));
      xhr.send(file);
    });
  }
}
