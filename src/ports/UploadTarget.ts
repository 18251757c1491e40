/**
 * Where a client sends the bytes of a new upload. Locally that is the server's own PUT route (the
 * bytes go through the ObjectStore, which emits the object event extraction listens to); on AWS it
 * is a presigned S3 PUT URL, so image bytes never pass through the infer Lambda and the S3 event
 * starts extraction as it does for any other upload.
 */
export interface UploadGrant {
  /** The object key the bytes will land at: datasets/<dataset>/<label>/<file>. */
  key: string;
  method: 'PUT';
  /** Absolute (presigned S3) or relative to the API's base URL (local PUT route). */
  url: string;
  /** Headers the client must send with the PUT (the signed ones, for S3). */
  headers: Record<string, string>;
  /** When a presigned URL stops working; absent for URLs that do not expire. */
  expiresAt?: string;
}

export interface UploadRequest {
  dataset: string;
  label: string;
  file: string;
  contentType: string;
}

export interface UploadTarget {
  grant(request: UploadRequest): Promise<UploadGrant>;
}
