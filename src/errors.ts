/**
 * Every error headstart raises on purpose extends {@link HeadstartError}. Each carries a stable
 * `code` (for JSON bodies and per-object records) and the HTTP status an edge should answer with, so
 * edges never guess: a user's mistake is a 4xx with a message that names the problem, anything
 * else is a 500.
 */
export interface ErrorOptions {
  cause?: unknown;
  /** Extra facts for logs and JSON bodies (never image bytes or secrets). */
  context?: Record<string, unknown>;
}

export class HeadstartError extends Error {
  readonly code: string;
  readonly status: number;
  readonly context: Record<string, unknown>;

  constructor(message: string, code = 'internal_error', status = 500, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HeadstartError';
    this.code = code;
    this.status = status;
    this.context = options.context ?? {};
  }

  toJSON(): { error: string; code: string } & Record<string, unknown> {
    return { error: this.message, code: this.code, ...this.context };
  }
}

/** Reasons an image is refused; recorded per object and returned by the API. */
export type ImageRejection =
  | 'empty_file'
  | 'too_large'
  | 'too_many_pixels'
  | 'not_an_image'
  | 'unsupported_format'
  | 'corrupt_image';

export class InvalidImageError extends HeadstartError {
  readonly reason: ImageRejection;
  constructor(reason: ImageRejection, message: string, options: ErrorOptions = {}) {
    super(message, reason, reason === 'too_large' || reason === 'too_many_pixels' ? 413 : reason === 'unsupported_format' ? 415 : 400, options);
    this.name = 'InvalidImageError';
    this.reason = reason;
  }
}

/** Reasons a text example is refused; recorded per object and returned by the API. */
export type TextRejection = 'empty_text' | 'invalid_utf8' | 'binary_file' | 'text_too_large';

export class InvalidTextError extends HeadstartError {
  readonly reason: TextRejection;
  constructor(reason: TextRejection, message: string, options: ErrorOptions = {}) {
    super(message, reason, reason === 'text_too_large' ? 413 : 400, options);
    this.name = 'InvalidTextError';
    this.reason = reason;
  }
}

/** A dataset, label, file or version name that is not allowed (path tricks, control characters, too long). */
export class InvalidNameError extends HeadstartError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, 'invalid_name', 400, options);
    this.name = 'InvalidNameError';
  }
}

/** A request that is malformed: wrong content type, bad base64, empty body. */
export class BadRequestError extends HeadstartError {
  constructor(message: string, code = 'bad_request', status = 400, options: ErrorOptions = {}) {
    super(message, code, status, options);
    this.name = 'BadRequestError';
  }
}

/** A training of this dataset is already queued or running: at most one at a time (HTTP 409). */
export class TrainingInProgressError extends HeadstartError {
  constructor(
    readonly dataset: string,
    readonly runningJobId: string,
    options: ErrorOptions = {},
  ) {
    super(`dataset "${dataset}" is already being trained by job ${runningJobId}; wait for it (GET /jobs/${runningJobId}) and train again`, 'training_in_progress', 409, {
      ...options,
      context: { dataset, jobId: runningJobId, ...options.context },
    });
    this.name = 'TrainingInProgressError';
  }
}

/** A conditional write found the object changed (or present) since it was read: read again and retry. */
export class PreconditionFailedError extends HeadstartError {
  constructor(key: string, options: ErrorOptions = {}) {
    super(`object ${key} changed since it was read`, 'precondition_failed', 409, { ...options, context: { key, ...options.context } });
    this.name = 'PreconditionFailedError';
  }
}

export class NotFoundError extends HeadstartError {
  constructor(message: string, code = 'not_found', options: ErrorOptions = {}) {
    super(message, code, 404, options);
    this.name = 'NotFoundError';
  }
}

export class DatasetNotFoundError extends NotFoundError {
  constructor(dataset: string, options: ErrorOptions = {}) {
    super(`dataset "${dataset}" does not exist`, 'dataset_not_found', { ...options, context: { dataset, ...options.context } });
    this.name = 'DatasetNotFoundError';
  }
}

export class ModelNotFoundError extends NotFoundError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, 'model_not_found', options);
    this.name = 'ModelNotFoundError';
  }
}

/** The backbone file is not on this machine (and we never download silently). */
export class BackboneMissingError extends HeadstartError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, 'backbone_missing', 500, options);
    this.name = 'BackboneMissingError';
  }
}

/** A head trained on one backbone's embeddings was asked to run on another's. */
export class BackboneMismatchError extends HeadstartError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, 'backbone_mismatch', 409, options);
    this.name = 'BackboneMismatchError';
  }
}

/** The dataset cannot be trained as it is (one label, no embeddings yet, conflicting labels...). */
export class TrainingDataError extends HeadstartError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, 'training_data', 422, options);
    this.name = 'TrainingDataError';
  }
}

/** An error from onnxruntime, with the shapes that were fed, so a failure says what went in. */
export class InferenceError extends HeadstartError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, 'inference_error', 500, options);
    this.name = 'InferenceError';
  }
}

export function isHeadstartError(error: unknown): error is HeadstartError {
  return error instanceof HeadstartError;
}

/** A one-line description of any thrown value, for logs and per-object error records. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
